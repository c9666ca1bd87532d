//! Holding a configuration reference, a Markdown page of tables, to the code that reads
//! the variables.
//!
//! The page has one `## ` heading per group of variables, each followed by a table whose
//! first column is a variable's name in backticks, the second its default and the third
//! its meaning. A default cell is one of:
//!
//! - `required`: the service does not start without it;
//! - `unset`: optional, and nothing takes its place when it is not set;
//! - `empty`: the empty string;
//! - the default value in backticks, which prose may follow (`` `67108864` (64 MiB) ``).
//!
//! [`check`] compares the page with a configuration struct in both directions and
//! returns every disagreement, for a test to print.

use crate::config::ConfigError;

/// What a row says a variable's default is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Documented {
    /// The service does not start without it.
    Required,
    /// Optional, with nothing in its place.
    Unset,
    /// This value.
    Value(String),
}

/// One row of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The variable.
    pub name: String,
    /// Its default.
    pub default: Documented,
}

/// The rows of the table under the `## {section}` heading of `markdown`.
pub fn rows(markdown: &str, section: &str) -> Result<Vec<Row>, String> {
    let heading = format!("## {section}");
    let mut lines = markdown
        .lines()
        .skip_while(|line| line.trim_end() != heading);
    if lines.next().is_none() {
        return Err(format!("there is no `{heading}` heading"));
    }
    lines
        .take_while(|line| !line.starts_with("## "))
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let (name, default) = match cells.as_slice() {
                ["", name, default, ..] => (*name, *default),
                _ => return Err(format!("row {line:?} has no default column")),
            };
            let name = name
                .strip_prefix('`')
                .and_then(|rest| rest.strip_suffix('`'))
                .filter(|name| !name.contains('`'))
                .ok_or_else(|| format!("row {line:?} names more than one variable"))?;
            Ok(Row {
                name: name.to_owned(),
                default: documented(default).ok_or_else(|| {
                    format!("{name}: the default cell {default:?} is not understood")
                })?,
            })
        })
        .collect()
}

fn documented(cell: &str) -> Option<Documented> {
    match cell {
        "required" => return Some(Documented::Required),
        "unset" => return Some(Documented::Unset),
        "empty" => return Some(Documented::Value(String::new())),
        _ => {}
    }
    let (value, _prose) = cell.strip_prefix('`')?.split_once('`')?;
    Some(Documented::Value(value.to_owned()))
}

/// Every disagreement between the tables under `sections` of `markdown` and the code:
///
/// - `variables` (what the code reads, e.g. from [`crate::config::variables`]) and the
///   rows must name the same variables, each once;
/// - `required` gives a valid value for each required variable: together they must load,
///   each must be needed (leaving it out is an error naming it), and exactly these rows
///   must say `required`;
/// - a documented default, set explicitly, must load the same configuration as leaving
///   the variable unset, and an `unset` one must show as `None`.
///
/// `load` builds the configuration from the given variables and returns its `Debug`
/// output, in which every optional variable must appear as its lower-case field name.
pub fn check<L>(
    markdown: &str,
    sections: &[&str],
    variables: &[String],
    required: &[(&str, &str)],
    load: L,
) -> Vec<String>
where
    L: Fn(Vec<(String, String)>) -> Result<String, ConfigError>,
{
    let mut problems = Vec::new();
    let mut documented = Vec::new();
    for section in sections {
        match rows(markdown, section) {
            Ok(rows) => documented.extend(rows),
            Err(problem) => problems.push(format!("under `## {section}`: {problem}")),
        }
    }
    let headings = sections.join("`, `## ");
    for (index, row) in documented.iter().enumerate() {
        if documented[..index]
            .iter()
            .any(|other| other.name == row.name)
        {
            problems.push(format!("{} has more than one row", row.name));
        }
        if !variables.contains(&row.name) {
            problems.push(format!(
                "{} is documented but the code does not read it",
                row.name
            ));
        }
    }
    for name in variables {
        if !documented.iter().any(|row| &row.name == name) {
            problems.push(format!(
                "{name} is read by the code but has no row under `## {headings}`"
            ));
        }
    }

    let with = |extra: Option<(&str, &str)>, without: Option<&str>| {
        required
            .iter()
            .copied()
            .chain(extra)
            .filter(|(name, _)| Some(*name) != without)
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect::<Vec<_>>()
    };
    let baseline = match load(with(None, None)) {
        Ok(shown) => shown,
        Err(err) => {
            problems.push(format!("the required variables alone do not load: {err}"));
            return problems;
        }
    };
    for (name, _) in required {
        match load(with(None, Some(name))) {
            Err(err) if err.to_string().contains(name) => {}
            other => problems.push(format!(
                "{name} is given as required, but leaving it out gives {other:?}"
            )),
        }
    }
    for row in &documented {
        let name = row.name.as_str();
        if let Some(secret) = file_form_of(name, variables) {
            problems.extend(check_file_form(row, secret, required, &load));
            continue;
        }
        let field = row.name.to_lowercase();
        let shows = |shown: &str, value: &str| {
            shown.contains(&format!("{{ {field}: {value}"))
                || shown.contains(&format!(", {field}: {value}"))
        };
        let is_required = required.iter().any(|(given, _)| *given == name);
        match &row.default {
            Documented::Required if !is_required => problems.push(format!(
                "{name} is documented as required, but the configuration loads without it"
            )),
            Documented::Required => {}
            _ if is_required => problems.push(format!(
                "{name} is required, but documented with the default {:?}",
                row.default
            )),
            Documented::Unset if !shows(&baseline, "None") => problems.push(format!(
                "{name} is documented as unset, but unset it does not show as `{field}: None` in {baseline}"
            )),
            Documented::Unset => {}
            Documented::Value(_) if !shows(&baseline, "") => problems.push(format!(
                "{name}: `{field}` is not in the configuration's Debug output, so its default cannot be checked"
            )),
            Documented::Value(value) => match load(with(Some((name, value.as_str())), None)) {
                Ok(shown) if shown == baseline => {}
                Ok(shown) => problems.push(format!(
                    "{name}: the documented default {value:?} is not the default: set, it gives {shown}; unset, {baseline}"
                )),
                Err(err) => problems.push(format!(
                    "{name}: the documented default {value:?} does not load: {err}"
                )),
            },
        }
    }
    problems
}

/// The secret variable `name` is the `NAME_FILE` form of, when the code reads both.
fn file_form_of<'a>(name: &'a str, variables: &[String]) -> Option<&'a str> {
    let secret = name.strip_suffix(crate::config::FILE_SUFFIX)?;
    (variables.iter().any(|known| known == secret) && variables.iter().any(|known| known == name))
        .then_some(secret)
}

/// The problems of the row of `NAME_FILE`, the file form of the secret `secret`: it must
/// be documented as `unset`; a file must give the secret its value (in place of the
/// variable when that is required); and setting both must be an error naming both.
fn check_file_form<L>(row: &Row, secret: &str, required: &[(&str, &str)], load: &L) -> Vec<String>
where
    L: Fn(Vec<(String, String)>) -> Result<String, ConfigError>,
{
    let name = row.name.as_str();
    let mut problems = Vec::new();
    if row.default != Documented::Unset {
        problems.push(format!(
            "{name} is the file form of {secret}: its default must be `unset`, not {:?}",
            row.default
        ));
    }
    let value = required
        .iter()
        .find(|(given, _)| *given == secret)
        .map_or("from-a-file", |(_, value)| *value);
    let file = std::env::temp_dir().join(format!("config-reference-{}-{name}", std::process::id()));
    if let Err(err) = std::fs::write(&file, format!("{value}\n")) {
        problems.push(format!(
            "{name}: cannot write a file to test it with: {err}"
        ));
        return problems;
    }
    let path = file.to_string_lossy().into_owned();
    let vars = |with_secret: bool| {
        required
            .iter()
            .filter(|(given, _)| *given != secret || with_secret)
            .map(|(given, value)| ((*given).to_owned(), (*value).to_owned()))
            .chain(with_secret.then(|| (secret.to_owned(), value.to_owned())))
            .chain([(name.to_owned(), path.clone())])
            .collect::<Vec<_>>()
    };
    let field = secret.to_lowercase();
    let is_required = required.iter().any(|(given, _)| *given == secret);
    match load(vars(false)) {
        Ok(_) if is_required => {}
        Ok(shown)
            if shown.contains(&format!("{{ {field}: Some("))
                || shown.contains(&format!(", {field}: Some(")) => {}
        Ok(shown) => problems.push(format!(
            "{name} set to a file does not set {secret}: {shown}"
        )),
        Err(err) => problems.push(format!(
            "{name} set to a file holding a valid {secret} does not load: {err}"
        )),
    }
    match load(vars(true)) {
        Err(err) if err.to_string().contains(&format!("{secret} and {name}")) => {}
        other => problems.push(format!(
            "{secret} and {name} both set should be an error naming both, but gave {other:?}"
        )),
    }
    let _ = std::fs::remove_file(&file);
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{self, Secret};

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)] // read through Debug
    struct Toy {
        token: Secret,
        #[serde(default = "ten")]
        size: u32,
        #[serde(default)]
        note: Option<String>,
        #[serde(default)]
        label: String,
    }

    fn ten() -> u32 {
        10
    }

    const PAGE: &str = "\
# Configuration

## toy

| variable | default | meaning |
|---|---|---|
| `TOKEN` | required | the token |
| `TOKEN_FILE` | unset | a file holding the token |
| `SIZE` | `10` (ten) | how many |
| `NOTE` | unset | a note |
| `LABEL` | empty | a label |

## other

| `COLOR` | `red` | not the toy's |
";

    fn problems(page: &str) -> Vec<String> {
        check(
            page,
            &["toy"],
            &config::variables::<Toy>(),
            &[("TOKEN", "t")],
            |vars| config::from_iter::<Toy, _>(vars).map(|toy| format!("{toy:?}")),
        )
    }

    #[test]
    fn a_page_that_matches_the_struct_has_no_problems() {
        assert_eq!(problems(PAGE), Vec::<String>::new());
    }

    #[test]
    fn a_variable_without_a_row_is_reported() {
        let found = problems(&PAGE.replace("| `SIZE` | `10` (ten) | how many |\n", ""));
        assert!(
            found
                .iter()
                .any(|problem| problem.starts_with("SIZE is read by the code")),
            "{found:?}"
        );
    }

    #[test]
    fn a_row_the_code_does_not_read_is_reported() {
        let found = problems(&PAGE.replace("## other\n", ""));
        assert!(
            found
                .iter()
                .any(|problem| problem.starts_with("COLOR is documented")),
            "{found:?}"
        );
    }

    #[test]
    fn a_wrong_default_is_reported() {
        for (row, wrong) in [
            ("| `SIZE` | `10` (ten) |", "| `SIZE` | `12` |"),
            ("| `NOTE` | unset |", "| `NOTE` | `n` |"),
            ("| `LABEL` | empty |", "| `LABEL` | `x` |"),
            ("| `SIZE` | `10` (ten) |", "| `SIZE` | required |"),
            ("| `TOKEN` | required |", "| `TOKEN` | unset |"),
        ] {
            let found = problems(&PAGE.replace(row, wrong));
            assert_eq!(found.len(), 1, "{wrong}: {found:?}");
        }
    }

    #[test]
    fn a_secret_without_its_file_row_or_with_a_default_is_reported() {
        let found =
            problems(&PAGE.replace("| `TOKEN_FILE` | unset | a file holding the token |\n", ""));
        assert!(
            found
                .iter()
                .any(|problem| problem.starts_with("TOKEN_FILE is read by the code")),
            "{found:?}"
        );
        let found =
            problems(&PAGE.replace("| `TOKEN_FILE` | unset |", "| `TOKEN_FILE` | required |"));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("must be `unset`"), "{found:?}");
    }

    #[test]
    fn a_file_form_the_code_does_not_honour_is_reported() {
        // the struct reads TOKEN_FILE but as a plain variable, not as TOKEN's file
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)] // read through Debug
        struct Plain {
            token: String,
            #[serde(default)]
            token_file: Option<String>,
        }
        let page = "## toy\n| `TOKEN` | required | t |\n| `TOKEN_FILE` | unset | f |\n";
        let found = check(
            page,
            &["toy"],
            &config::variables::<Plain>(),
            &[("TOKEN", "t")],
            |vars| config::from_iter::<Plain, _>(vars).map(|plain| format!("{plain:?}")),
        );
        assert!(
            found
                .iter()
                .any(|problem| problem.contains("both set should be an error")),
            "{found:?}"
        );
    }

    #[test]
    fn default_cells_are_read() {
        assert_eq!(
            rows(PAGE, "toy").unwrap()[2],
            Row {
                name: "SIZE".to_owned(),
                default: Documented::Value("10".to_owned())
            }
        );
        assert!(rows("## toy\n| `A` | maybe | x |\n", "toy").is_err());
        assert!(rows(PAGE, "missing").is_err());
    }
}
