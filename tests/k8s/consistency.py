#!/usr/bin/env python3
"""Holds the deployment files to the code they deploy.

Reads what the services accept from their source (not from a copy kept here):

- the environment variables: the fields of `pub struct Config` in each service's
  `src/config.rs` (envy: the variable is the field name in upper case; a field without
  `#[serde(default…)]` that is not an `Option` is required), and `MigrateConfig` for
  `posts-service migrate`;
- the default port: `fn default_listen_addr` in the same file;
- the paths served: the route templates of `fn route_template` in `src/routes/mod.rs`;
- the shutdown drain: `DRAIN_TIMEOUT` in crates/service-runtime/src/server.rs;
- the image targets: the `FROM … AS <service>` stages of the Dockerfile;

then checks every built Kubernetes overlay (YAML streams given on the command line)
and docker-compose.yml: each variable set is one the service reads, each required one
is set, container ports are the port the service listens on, probes ask paths it serves
(liveness `/healthz`, readiness `/readyz`), Services, Ingress and NetworkPolicies point
at those ports, termination grace covers preStop plus the drain, and the images are the
Dockerfile's targets.

Usage: consistency.py --root REPO --compose docker-compose.yml NAME=built.yaml...
Prints one line per check, libtest style, and exits non-zero if any failed.
"""

import argparse
import base64
import re
import sys
from pathlib import Path
from urllib.parse import urlparse

import yaml

SERVICES = ("posts-service", "render-service")


# ------------------------------------------------------------ the code --

class ServiceFacts:
    """What one service's source says it accepts and serves."""

    def __init__(self, root: Path, name: str):
        self.name = name
        src = root / "services" / name / "src"
        config_rs = (src / "config.rs").read_text()
        self.vars, self.required = struct_vars(config_rs, "Config")
        self.migrate_vars, self.migrate_required = (
            struct_vars(config_rs, "MigrateConfig")
            if "struct MigrateConfig" in config_rs else (set(), set())
        )
        self.default_port = default_port(config_rs)
        self.paths = route_templates((src / "routes" / "mod.rs").read_text())


def struct_vars(source: str, struct: str):
    """(all variables, required variables) of `pub struct <struct> { … }`."""
    match = re.search(r"pub struct %s\s*\{(.*?)\n\}" % re.escape(struct), source, re.S)
    if not match:
        raise SystemExit(f"cannot find `pub struct {struct}` in config.rs")
    names, required = set(), set()
    has_default = False
    for line in match.group(1).splitlines():
        line = line.strip()
        if line.startswith("#[serde(") and "default" in line:
            has_default = True
        field = re.match(r"pub (\w+)\s*:\s*(.+?),?$", line)
        if field:
            name, ty = field.group(1).upper(), field.group(2)
            names.add(name)
            if not has_default and not ty.startswith("Option<"):
                required.add(name)
            has_default = False
    if not names:
        raise SystemExit(f"`pub struct {struct}` has no fields I can read")
    return names, required


def default_port(source: str) -> int:
    match = re.search(
        r"fn default_listen_addr\(\)[^{]*\{[^}]*?\[\s*\d+\s*,\s*\d+\s*,\s*\d+\s*,\s*\d+\s*\]\s*,\s*(\d+)",
        source, re.S)
    if not match:
        raise SystemExit("cannot find the port in `fn default_listen_addr`")
    return int(match.group(1))


def route_templates(source: str):
    match = re.search(r"fn route_template\(.*?\n\}", source, re.S)
    if not match:
        raise SystemExit("cannot find `fn route_template` in routes/mod.rs")
    return set(re.findall(r'=>\s*"(/[^"]*)"', match.group(0)))


def drain_seconds(root: Path) -> int:
    source = (root / "crates/service-runtime/src/server.rs").read_text()
    match = re.search(r"DRAIN_TIMEOUT: Duration = Duration::from_secs\((\d+)\)", source)
    if not match:
        raise SystemExit("cannot find DRAIN_TIMEOUT in service-runtime/src/server.rs")
    return int(match.group(1))


def dockerfile_targets(root: Path):
    text = (root / "Dockerfile").read_text()
    return set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", text, re.M | re.I))


# --------------------------------------------------------------- checks --

class Report:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name: str, problems):
        problems = [p for p in problems if p]
        if problems:
            self.failed += 1
            print(f"test consistency::{name} ... FAILED")
            for problem in problems:
                print(f"    {problem}")
        else:
            self.passed += 1
            print(f"test consistency::{name} ... ok")


def port_of(addr: str) -> int:
    return int(addr.rsplit(":", 1)[1])


def service_of_image(image: str):
    base = image.rsplit("/", 1)[-1].split("@")[0].split(":")[0]
    return base if base in SERVICES else None


def env_problems(where, service, names, allowed, required):
    problems = [f"{where}: sets {n}, which {service} does not read" for n in sorted(names - allowed)]
    problems += [f"{where}: does not set {n}, which {service} requires" for n in sorted(required - names)]
    return problems


def check_overlay(report, overlay, docs, facts, drain, targets):
    by_kind = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)
    config_maps = {d["metadata"]["name"]: d.get("data", {}) for d in by_kind.get("ConfigMap", [])}
    secrets = {
        d["metadata"]["name"]: {
            **{k: base64.b64decode(v).decode() for k, v in (d.get("data") or {}).items()},
            **(d.get("stringData") or {}),
        }
        for d in by_kind.get("Secret", [])
    }
    services = {d["metadata"]["name"]: d for d in by_kind.get("Service", [])}
    workloads = [d for kind in ("Deployment", "StatefulSet", "Job", "CronJob") for d in by_kind.get(kind, [])]
    listen_port = {}  # service -> port its pods listen on
    pod_labels = {}   # service -> pod template labels

    seen = set()
    for workload in workloads:
        spec = workload["spec"]
        if workload["kind"] == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        template = spec["template"]
        pod = template["spec"]
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            service = service_of_image(container.get("image", ""))
            if not service:
                continue
            f = facts[service]
            seen.add(service)
            where = f"{overlay}: {workload['kind']}/{workload['metadata']['name']}/{container['name']}"
            is_migrate = (container.get("args") or container.get("command") or [None])[0] == "migrate"
            allowed, required = (f.migrate_vars, f.migrate_required) if is_migrate else (f.vars, f.required)
            problems = []

            # environment: explicit entries and whole ConfigMaps/Secrets
            env = {}
            for entry in container.get("env", []):
                env[entry["name"]] = entry.get("value")
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if ref and ref["name"] in secrets:
                    if ref["key"] not in secrets[ref["name"]]:
                        problems.append(f"{where}: {entry['name']} refers to key {ref['key']} missing from Secret {ref['name']}")
                    else:
                        env[entry["name"]] = secrets[ref["name"]][ref["key"]]
                if ref and ref["name"] not in secrets and overlay == "dev":
                    problems.append(f"{where}: Secret {ref['name']} is not in the dev overlay")
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    name = source["configMapRef"]["name"]
                    if name not in config_maps:
                        problems.append(f"{where}: ConfigMap {name} is not in the overlay")
                    env.update(config_maps.get(name, {}))
                if "secretRef" in source:
                    name = source["secretRef"]["name"]
                    if name in secrets:
                        env.update(secrets[name])
                    else:
                        problems.append(f"{where}: envFrom Secret {name} is not in the overlay, so its keys cannot be checked")
            problems += env_problems(where, service, set(env), allowed, required)
            report.check(f"{overlay}::{service}::{'migrate::' if is_migrate else ''}environment", problems)
            if is_migrate:
                continue

            # ports and probes
            problems = []
            port = port_of(env["LISTEN_ADDR"]) if env.get("LISTEN_ADDR") else f.default_port
            listen_port[service] = port
            pod_labels[service] = template["metadata"].get("labels", {})
            named = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
            if list(named.values()) != [port]:
                problems.append(f"{where}: container ports {sorted(named.values())}, but the service listens on {port}")
            expected = {"startupProbe": "/healthz", "livenessProbe": "/healthz", "readinessProbe": "/readyz"}
            for probe, want in expected.items():
                get = container.get(probe, {}).get("httpGet")
                if not get:
                    problems.append(f"{where}: no HTTP {probe}")
                    continue
                if get["path"] not in f.paths:
                    problems.append(f"{where}: {probe} asks {get['path']}, which {service} does not serve")
                if get["path"] != want:
                    problems.append(f"{where}: {probe} should ask {want}, not {get['path']}")
                probe_port = named.get(get["port"], get["port"])
                if probe_port != port:
                    problems.append(f"{where}: {probe} on port {get['port']}, the service listens on {port}")
            report.check(f"{overlay}::{service}::ports_and_probes", problems)

            # graceful termination: preStop + the service's drain fit in the grace period
            problems = []
            pre_stop = container.get("lifecycle", {}).get("preStop", {})
            pre_stop_secs = pre_stop.get("sleep", {}).get("seconds", 0)
            if not pre_stop:
                problems.append(f"{where}: no preStop hook")
            grace = pod.get("terminationGracePeriodSeconds", 30)
            if grace < pre_stop_secs + drain:
                problems.append(f"{where}: terminationGracePeriodSeconds {grace} < preStop {pre_stop_secs} s + drain {drain} s")
            report.check(f"{overlay}::{service}::graceful_termination", problems)

            # the image is one of the Dockerfile's targets
            report.check(f"{overlay}::{service}::image_is_a_dockerfile_target",
                         [None if service in targets else f"{where}: no Dockerfile target named {service}"])

    report.check(f"{overlay}::both_services_deployed",
                 [f"{overlay}: no container runs {s}" for s in SERVICES if s not in seen])

    # Services, Ingress, NetworkPolicies and the URLs between the services
    problems = []
    for service, port in listen_port.items():
        svc = services.get(service)
        if not svc:
            problems.append(f"{overlay}: no Service named {service}")
            continue
        labels = pod_labels[service]
        if any(labels.get(k) != v for k, v in svc["spec"].get("selector", {}).items()):
            problems.append(f"{overlay}: Service {service} does not select the {service} pods")
        for p in svc["spec"]["ports"]:
            target = p.get("targetPort", p["port"])
            if target not in ("http", port):
                problems.append(f"{overlay}: Service {service} targets port {target}, pods listen on {port} (named http)")
    for ingress in by_kind.get("Ingress", []):
        for rule in ingress["spec"].get("rules", []):
            for path in rule.get("http", {}).get("paths", []):
                backend = path["backend"]["service"]
                svc = services.get(backend["name"])
                if backend["name"] != "render-service" or not svc:
                    problems.append(f"{overlay}: Ingress {ingress['metadata']['name']} sends {path['path']} to {backend['name']}")
                    continue
                names = {p.get("name") for p in svc["spec"]["ports"]} | {p["port"] for p in svc["spec"]["ports"]}
                wanted = backend["port"].get("name", backend["port"].get("number"))
                if wanted not in names:
                    problems.append(f"{overlay}: Ingress backend port {wanted} is not a port of Service {backend['name']}")
    for policy in by_kind.get("NetworkPolicy", []):
        selected = policy["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name")
        if selected in listen_port:
            for rule in policy["spec"].get("ingress", []):
                for p in rule.get("ports", []):
                    if p.get("port") != listen_port[selected]:
                        problems.append(f"{overlay}: NetworkPolicy {policy['metadata']['name']} opens {p.get('port')}, {selected} listens on {listen_port[selected]}")
        for rule in policy["spec"].get("egress", []):
            target = (rule.get("to") or [{}])[0].get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name")
            if target in listen_port:
                for p in rule.get("ports", []):
                    if p.get("port") != listen_port[target]:
                        problems.append(f"{overlay}: NetworkPolicy {policy['metadata']['name']} allows {target}:{p.get('port')}, it listens on {listen_port[target]}")
    report.check(f"{overlay}::services_ingress_and_network_policies_use_the_listen_ports", problems)

    problems = []
    render_env = {}
    for name, data in config_maps.items():
        if name.startswith("render-service-config"):
            render_env = data
    url = urlparse(render_env.get("POSTS_SERVICE_URL", ""))
    if url.hostname != "posts-service" or url.port != listen_port.get("posts-service"):
        problems.append(f"{overlay}: POSTS_SERVICE_URL {render_env.get('POSTS_SERVICE_URL')} is not the posts-service Service on port {listen_port.get('posts-service')}")
    db_urls = [v.get("database-url") for k, v in secrets.items() if k.startswith("posts-service-credentials")]
    for db_url in filter(None, db_urls):
        parsed = urlparse(db_url)
        if parsed.hostname != "mariadb" or (parsed.port or 3306) not in {p["port"] for p in services.get("mariadb", {}).get("spec", {}).get("ports", [])}:
            problems.append(f"{overlay}: DATABASE_URL host/port is not the mariadb Service")
        passwords = [v.get("password") for k, v in secrets.items() if k.startswith("mariadb-credentials")]
        if passwords and parsed.password not in passwords:
            problems.append(f"{overlay}: the password in DATABASE_URL is not MariaDB's")
    report.check(f"{overlay}::urls_between_the_services_match", problems)


def interpolated_default(value):
    """`${VAR:-default}` -> default (what compose uses without an .env)."""
    return re.sub(r"\$\{[A-Z0-9_]+:?-([^}]*)\}", r"\1", str(value))


def check_compose(report, path: Path, facts, drain, targets):
    compose = yaml.safe_load(path.read_text())
    services = compose["services"]
    for name in SERVICES:
        f = facts[name]
        svc = services.get(name)
        if not svc:
            report.check(f"compose::{name}::present", [f"docker-compose.yml has no service {name}"])
            continue
        where = f"docker-compose.yml: {name}"
        env = svc.get("environment", {})
        if isinstance(env, list):
            env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
        problems = env_problems(where, name, set(env), f.vars, f.required)
        if svc.get("env_file"):
            problems.append(f"{where}: env_file hides which variables are set; list them in environment")
        report.check(f"compose::{name}::environment", problems)

        problems = []
        port = port_of(interpolated_default(env["LISTEN_ADDR"])) if "LISTEN_ADDR" in env else f.default_port
        for mapping in svc.get("ports", []):
            target = int(str(interpolated_default(mapping)).rsplit(":", 1)[-1].split("/")[0]) if not isinstance(mapping, dict) else mapping["target"]
            if target != port:
                problems.append(f"{where}: publishes container port {target}, the service listens on {port}")
        for exposed in svc.get("expose", []):
            if int(str(exposed).split("/")[0]) != port:
                problems.append(f"{where}: exposes {exposed}, the service listens on {port}")
        test = svc.get("healthcheck", {}).get("test", [])
        if test[:1] != ["CMD"] or test[1:3] != [f"/{name}", "healthcheck"]:
            problems.append(f"{where}: the health check should run [\"CMD\", \"/{name}\", \"healthcheck\"], not {test}")
        report.check(f"compose::{name}::ports_and_health_check", problems)

        problems = []
        build = svc.get("build", {})
        if build.get("target") != name or name not in targets:
            problems.append(f"{where}: builds target {build.get('target')}, the Dockerfile has {sorted(targets)}")
        grace = str(svc.get("stop_grace_period", "10s"))
        seconds = int(re.match(r"(\d+)s$", grace).group(1)) if re.match(r"\d+s$", grace) else 0
        if seconds < drain:
            problems.append(f"{where}: stop_grace_period {grace} is shorter than the {drain} s drain")
        report.check(f"compose::{name}::image_and_stop", problems)

    render_env = services.get("render-service", {}).get("environment", {})
    url = urlparse(interpolated_default(render_env.get("POSTS_SERVICE_URL", "")))
    posts_env = services.get("posts-service", {}).get("environment", {})
    posts_port = port_of(interpolated_default(posts_env["LISTEN_ADDR"])) if "LISTEN_ADDR" in posts_env else facts["posts-service"].default_port
    problems = []
    if url.hostname != "posts-service" or url.port != posts_port:
        problems.append(f"docker-compose.yml: POSTS_SERVICE_URL {url.geturl()} is not posts-service:{posts_port}")
    db = urlparse(interpolated_default(posts_env.get("DATABASE_URL", "")))
    if db.hostname != "mariadb" or "mariadb" not in services:
        problems.append(f"docker-compose.yml: DATABASE_URL does not point at the mariadb service")
    if interpolated_default(render_env.get("POSTS_API_TOKEN")) != interpolated_default(posts_env.get("API_TOKEN")):
        problems.append("docker-compose.yml: POSTS_API_TOKEN and API_TOKEN differ")
    report.check("compose::urls_between_the_services_match", problems)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--compose", type=Path, required=True)
    parser.add_argument("overlays", nargs="+", help="NAME=built-manifests.yaml")
    args = parser.parse_args()

    facts = {name: ServiceFacts(args.root, name) for name in SERVICES}
    drain = drain_seconds(args.root)
    targets = dockerfile_targets(args.root)
    for f in facts.values():
        print(f"[consistency] {f.name}: reads {sorted(f.vars)}; requires {sorted(f.required)}; "
              f"listens on {f.default_port} by default; serves {sorted(f.paths)}")

    report = Report()
    for item in args.overlays:
        name, path = item.split("=", 1)
        docs = [d for d in yaml.safe_load_all(Path(path).read_text()) if d]
        check_overlay(report, name, docs, facts, drain, targets)
    check_compose(report, args.compose, facts, drain, targets)
    print(f"[consistency] {report.passed} passed, {report.failed} failed")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
