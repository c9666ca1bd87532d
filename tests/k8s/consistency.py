#!/usr/bin/env python3
"""Holds the deployment files to the code they deploy.

Reads what the services accept from their source (not from a copy kept here):

- the environment variables: the fields of `pub struct Config` in each service's
  `src/config.rs` (envy: the variable is the field name in upper case; a field without
  `#[serde(default…)]` that is not an `Option` is required), and `MigrateConfig` for
  `posts-service migrate`;
- the default port: `fn default_listen_addr` in the same file;
- the paths served: the templates each route names with `route("…", Method::…)` in the
  service's `src/` (the same names its metrics use);
- the shutdown drain: `DRAIN_TIMEOUT` in crates/service-runtime/src/server.rs;
- the image targets: the `FROM … AS <service>` stages of the Dockerfile;
- the versions: each service's Cargo.toml;
- what the backup script reads (k8s/base/mariadb-backup.sh), the Prometheus scrape
  configuration and alert rules (deploy/prometheus/);

then checks every built Kubernetes overlay (YAML streams given on the command line)
and docker-compose.yml: each variable set is one the service reads, each required one
is set, container ports are the ports the service listens on, probes ask paths it serves
(liveness `/healthz`, readiness `/readyz`), Services, Ingress, HTTPRoute,
ServiceMonitors and NetworkPolicies point at those ports, termination grace covers
preStop plus the drain, and the images are the Dockerfile's targets. And the operational
promises: HPAs own the replica counts (with `behavior`), PDBs allow one disruption and
evict unhealthy pods, MariaDB is pinned, tuned to its pod and has room for every pool at
the HPAs' maxima plus surge, each workload has its own ServiceAccount, every object
carries the recommended labels, the database password is in one Secret, the backup
CronJob and restore Job run the repository's script under the restricted Pod Security
Standard with NetworkPolicies that let them reach MariaDB, and the optional components'
copies (backup script, alert rules) equal their sources.

Usage: consistency.py --root REPO --compose docker-compose.yml [--ops JOB.yaml...] NAME=built.yaml...
       consistency.py --root REPO --write-prometheusrule
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

# Variables every deployment is given ahead of the code that reads them: allowed in the
# manifests while a service does not read them yet (a note says so). None now.
PLANNED_VARIABLES: set = set()

# MariaDB connections kept free of the services' pools: health checks, the backup and
# migration Jobs (2 at most), an operator's client.
CONNECTION_RESERVE = 10

RECOMMENDED = ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
               "app.kubernetes.io/component", "app.kubernetes.io/part-of", "app.kubernetes.io/managed-by")

BACKUP_SCRIPT = "k8s/base/mariadb-backup.sh"
ALERTS = "deploy/prometheus/alerts.yml"
PROMETHEUS_RULE = "k8s/components/monitoring/prometheusrule.yaml"


# ------------------------------------------------------------ the code --

class ServiceFacts:
    """What one service's source says it accepts and serves."""

    def __init__(self, root: Path, name: str):
        self.name = name
        src = root / "services" / name / "src"
        config_rs = (src / "config.rs").read_text()
        groups = shared_variables(root)
        self.vars, self.required = struct_vars(config_rs, "Config", groups)
        self.migrate_vars, self.migrate_required = (
            struct_vars(config_rs, "MigrateConfig", groups)
            if "struct MigrateConfig" in config_rs else (set(), set())
        )
        self.default_port = default_port(config_rs)
        self.paths = route_templates(src)
        self.pool_max_default = int(m.group(1)) if (m := re.search(
            r"fn default_db_pool_max\(\)[^{]*\{\s*(\d+)", config_rs)) else None
        cargo = (root / "services" / name / "Cargo.toml").read_text()
        if re.search(r'^version\.workspace\s*=\s*true', cargo, re.M):
            cargo = (root / "Cargo.toml").read_text()  # the workspace's [workspace.package]
        self.version = re.search(r'^version\s*=\s*"([^"]+)"', cargo, re.M).group(1)
        # what the manifests may set: what it reads, and what is planned ahead of the code
        self.allowed = self.vars | PLANNED_VARIABLES


def shared_variables(root: Path):
    """The variables of the groups a service's `Config` holds in a `#[serde(skip)]` field
    and reads with a pass of their own (crates/service-runtime): {type: variables}."""
    runtime = root / "crates/service-runtime/src"
    log = struct_vars((runtime / "telemetry.rs").read_text(), "LogConfig")[0]
    server = struct_vars((runtime / "config.rs").read_text(), "ServerVariables")[0]
    return {"LogConfig": log, "ServerConfig": server | log}


def struct_vars(source: str, struct: str, groups=None):
    """(all variables, required variables) of `pub struct <struct> { … }`; a skipped field
    of a type in `groups` stands for that group's (optional) variables."""
    match = re.search(r"(?:pub )?struct %s\s*\{(.*?)\n\}" % re.escape(struct), source, re.S)
    if not match:
        raise SystemExit(f"cannot find `pub struct {struct}` in config.rs")
    names, required = set(), set()
    has_default = skipped = False
    for line in match.group(1).splitlines():
        line = line.strip()
        if line.startswith("#[serde(") and "default" in line:
            has_default = True
        if line.startswith("#[serde(skip"):
            skipped = True
        field = re.match(r"(?:pub )?(\w+)\s*:\s*(.+?),?$", line)
        if field:
            name, ty = field.group(1).upper(), field.group(2)
            if skipped:
                names |= (groups or {}).get(ty, set())
            else:
                names.add(name)
                if re.fullmatch(r"(?:Option<)?Secret>?", ty):
                    # a secret may come from a file instead (NAME_FILE, service-runtime)
                    names.add(name + "_FILE")
                if not has_default and not ty.startswith("Option<"):
                    required.add(name)
            has_default = skipped = False
    if not names:
        raise SystemExit(f"`pub struct {struct}` has no fields I can read")
    return names, required


def default_port(source: str) -> int:
    match = re.search(r"DEFAULT_PORTS: DefaultPorts = DefaultPorts \{\s*listen: (\d+)", source)
    if not match:
        raise SystemExit("cannot find the port in `DEFAULT_PORTS`")
    return int(match.group(1))


def route_templates(src: Path):
    """The templates the routes name for themselves: `route("/readyz", Method::GET)`."""
    paths = set()
    for file in src.rglob("*.rs"):
        code = re.sub(r"^\s*//.*$", "", file.read_text(), flags=re.M)  # not doc examples
        paths |= set(re.findall(r'\broute\(\s*"(/[^"]*)"\s*,\s*Method::', code))
    if not paths:
        raise SystemExit(f"cannot find any `route(\"…\", Method::…)` under {src}")
    return paths


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
    problems += [f"{where}: does not set {n}, which {service} requires"
                 for n in sorted(required - names) if f"{n}_FILE" not in names]
    problems += [f"{where}: sets both {n} and {n}_FILE, which {service} refuses"
                 for n in sorted(names) if f"{n}_FILE" in names]
    return problems


def file_secret_ref(pod, container, path):
    """(Secret, key) of the file `path` in `container`, mounted from a `secret` volume or
    a `projected` volume's secret sources; None when no Secret is mounted there."""
    for mount in container.get("volumeMounts", []):
        base = mount["mountPath"].rstrip("/") + "/"
        if not path.startswith(base):
            continue
        file = path[len(base):]
        volume = next((v for v in pod.get("volumes", []) if v["name"] == mount["name"]), {})
        sources = [volume["secret"] | {"name": volume["secret"].get("secretName")}] if "secret" in volume else [
            source["secret"] for source in volume.get("projected", {}).get("sources", []) if "secret" in source]
        for source in sources:
            items = source.get("items")
            if items is None:
                return (source.get("name"), file)
            for item in items:
                if item["path"] == file:
                    return (source.get("name"), item["key"])
    return None


def pod_spec_of(workload):
    """(template, pod spec) of a Deployment, StatefulSet, Job or CronJob."""
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"], spec["template"]["spec"]


def labels_match(selector, labels):
    return all(labels.get(k) == v for k, v in (selector or {}).items())


def selects(policy_selector, labels):
    """Whether a NetworkPolicy podSelector (matchLabels, matchExpressions In) selects labels."""
    if not labels_match(policy_selector.get("matchLabels"), labels):
        return False
    for expr in policy_selector.get("matchExpressions", []):
        if expr["operator"] == "In" and labels.get(expr["key"]) not in expr["values"]:
            return False
    return True


def allows(policies, client, server, port):
    """Whether the NetworkPolicies let pods labelled `client` reach `server` on `port`
    (an egress rule on the client's side and an ingress rule on the server's)."""
    def rule_ok(rule_peers, rule_ports, peer_labels):
        peers_ok = any("podSelector" in p and "namespaceSelector" not in p and selects(p["podSelector"], peer_labels)
                       for p in rule_peers)
        return peers_ok and any(p.get("port") == port for p in rule_ports)
    egress = any(selects(p["spec"]["podSelector"], client) and rule_ok(r.get("to", []), r.get("ports", []), server)
                 for p in policies for r in p["spec"].get("egress", []))
    ingress = any(selects(p["spec"]["podSelector"], server) and rule_ok(r.get("from", []), r.get("ports", []), client)
                  for p in policies for r in p["spec"].get("ingress", []))
    return egress and ingress


def memory_bytes(quantity: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 10**3, "M": 10**6, "G": 10**9}
    match = re.fullmatch(r"(\d+)([KMG]i?)?", str(quantity))
    return int(match.group(1)) * units.get(match.group(2), 1)


def cnf_settings(text: str):
    """The [mariadbd] settings of a my.cnf, sizes in bytes."""
    settings, section = {}, None
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("["):
            section = line.strip("[]")
        elif "=" in line and section in ("mariadbd", "mysqld", "server"):
            key, value = (x.strip() for x in line.split("=", 1))
            sized = re.fullmatch(r"(\d+)([KMG])", value)
            settings[key] = int(sized.group(1)) * 1024 ** " KMG".index(sized.group(2)) if sized else value
    return settings


# GALERA_TLS_*_FILE -> the socket.ssl_* option galera.sh makes of it, and the server's
# own TLS setting (mariadb.cnf) that names the same kind of file
GALERA_TLS_FILES = {
    "GALERA_TLS_CA_FILE": ("socket.ssl_ca", "ssl-ca"),
    "GALERA_TLS_CERT_FILE": ("socket.ssl_cert", "ssl-cert"),
    "GALERA_TLS_KEY_FILE": ("socket.ssl_key", "ssl-key"),
}


def galera_tls_options(env):
    """The socket.ssl_* provider options a Galera node of this environment gets, as
    galera.sh composes them: GALERA_PROVIDER_OPTIONS, then GALERA_TLS_*_FILE (the last
    of an option wins)."""
    options = {}
    for item in str(env.get("GALERA_PROVIDER_OPTIONS") or "").split(";"):
        key, _, value = (x.strip() for x in item.partition("="))
        if key.startswith("socket.ssl"):
            options[key] = value
    for var, (option, _) in GALERA_TLS_FILES.items():
        if env.get(var):
            options[option] = str(env[var])
    return options


def env_value(entry, config_maps):
    """The value of a container's env entry: literal, or from a ConfigMap key (config_maps
    by name without the hash suffix); None when unset (an optional key that is missing)."""
    if "value" in entry:
        return entry["value"]
    ref = entry.get("valueFrom", {}).get("configMapKeyRef")
    if ref:
        return (config_maps.get(re.sub(r"-[a-z0-9]{10}$", "", ref["name"])) or {}).get(ref["key"])
    return None


def mariadb_tls_files(mariadb, config_by_base):
    """{"ssl-ca": (Secret, key), ...}: where MariaDB's own TLS files (mariadb.cnf) come from."""
    if not mariadb:
        return {}
    pod = pod_spec_of(mariadb)[1]
    container = pod["containers"][0]
    cnf = {k.replace("_", "-"): v for k, v in cnf_settings("\n".join(str(v) for v in config_by_base.get("mariadb-server-config", {}).values())).items()}
    return {setting: file_secret_ref(pod, container, str(cnf[setting])) for setting in ("ssl-ca", "ssl-cert", "ssl-key") if cnf.get(setting)}


def ca_file_problems(where, pod, config_maps, mariadb_ca):
    """A backup or restore pod connects over TLS: MARIADB_CA_FILE is set and is the file of
    MariaDB's CA (the same Secret key)."""
    container = pod["containers"][0]
    entry = next((e for e in container.get("env", []) if e["name"] == "MARIADB_CA_FILE"), None)
    path = env_value(entry, config_maps) if entry else None
    if not path:
        return [f"{where}: MARIADB_CA_FILE is not set: it connects without TLS, which MariaDB refuses"]
    ref = file_secret_ref(pod, container, path)
    if not mariadb_ca or ref != mariadb_ca:
        return [f"{where}: MARIADB_CA_FILE {path} is {ref or 'no mounted Secret key'}, not MariaDB's CA {mariadb_ca}"]
    return []


def surge_pods(deployment, replicas):
    surge = deployment["spec"].get("strategy", {}).get("rollingUpdate", {}).get("maxSurge", "25%")
    if isinstance(surge, str) and surge.endswith("%"):
        return -(-replicas * int(surge[:-1]) // 100)
    return int(surge)


def restricted_problems(where, pod):
    """What the restricted Pod Security Standard would refuse in this pod."""
    problems = []
    pod_sc = pod.get("securityContext", {})
    for container in pod.get("containers", []) + pod.get("initContainers", []):
        sc = container.get("securityContext", {})
        name = f"{where}/{container['name']}"
        if not (sc.get("runAsNonRoot") or pod_sc.get("runAsNonRoot")):
            problems.append(f"{name}: runAsNonRoot is not set")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation is not false")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            problems.append(f"{name}: capabilities do not drop ALL")
        seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {})).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: no RuntimeDefault seccomp profile")
        if not sc.get("readOnlyRootFilesystem"):
            problems.append(f"{name}: the root file system is writable")
    for volume in pod.get("volumes", []):
        if "hostPath" in volume:
            problems.append(f"{where}: hostPath volume {volume['name']}")
    return problems


def check_overlay(report, overlay, docs, facts, drain, targets, root):
    by_kind = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)
    config_maps = {d["metadata"]["name"]: d.get("data", {}) for d in by_kind.get("ConfigMap", [])}
    config_by_base = {re.sub(r"-[a-z0-9]{10}$", "", name): data for name, data in config_maps.items()}
    secrets = {
        d["metadata"]["name"]: {
            **{k: base64.b64decode(v).decode() for k, v in (d.get("data") or {}).items()},
            **(d.get("stringData") or {}),
        }
        for d in by_kind.get("Secret", [])
    }
    services = {d["metadata"]["name"]: d for d in by_kind.get("Service", [])}
    policies = by_kind.get("NetworkPolicy", [])
    workloads = [d for kind in ("Deployment", "StatefulSet", "Job", "CronJob") for d in by_kind.get(kind, [])]
    listen_port = {}  # service -> port its pods listen on
    metrics_port = {}  # service -> port of its metrics listener (METRICS_ADDR)
    pod_labels = {}   # service -> pod template labels
    service_env = {}  # service -> its environment (values where known)
    migrate_jobs = []

    seen = set()
    for workload in workloads:
        template, pod = pod_spec_of(workload)
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            service = service_of_image(container.get("image", ""))
            if not service:
                continue
            f = facts[service]
            seen.add(service)
            where = f"{overlay}: {workload['kind']}/{workload['metadata']['name']}/{container['name']}"
            is_migrate = (container.get("args") or container.get("command") or [None])[0] == "migrate"
            allowed, required = (f.migrate_vars, f.migrate_required) if is_migrate else (f.allowed, f.required)
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
                if ref and ref["name"] not in secrets and overlay.startswith("dev"):
                    problems.append(f"{where}: Secret {ref['name']} is not in the dev overlay")
                if entry["name"].endswith("_FILE") and entry.get("value"):
                    file_ref = file_secret_ref(pod, container, entry["value"])
                    if not file_ref:
                        problems.append(f"{where}: {entry['name']} {entry['value']} is no file of a mounted Secret")
                    elif file_ref[0] in secrets:
                        if file_ref[1] not in secrets[file_ref[0]]:
                            problems.append(f"{where}: {entry['name']} refers to key {file_ref[1]} missing from Secret {file_ref[0]}")
                    elif overlay.startswith("dev"):
                        problems.append(f"{where}: Secret {file_ref[0]} is not in the dev overlay")
                cm_ref = entry.get("valueFrom", {}).get("configMapKeyRef")
                if cm_ref:
                    if cm_ref["key"] not in config_maps.get(cm_ref["name"], {}):
                        problems.append(f"{where}: {entry['name']} refers to key {cm_ref['key']} missing from ConfigMap {cm_ref['name']}")
                    else:
                        env[entry["name"]] = config_maps[cm_ref["name"]][cm_ref["key"]]
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
                migrate_jobs.append((workload, env))
                continue
            service_env[service] = env

            # ports and probes
            problems = []
            port = port_of(env["LISTEN_ADDR"]) if env.get("LISTEN_ADDR") else f.default_port
            listen_port[service] = port
            pod_labels[service] = template["metadata"].get("labels", {})
            named = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
            expected_ports = {"http": port}
            if env.get("METRICS_ADDR"):
                metrics_port[service] = expected_ports["metrics"] = port_of(env["METRICS_ADDR"])
            if named != expected_ports:
                problems.append(f"{where}: container ports {named}, but the service listens on {expected_ports}")
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
    for service in SERVICES:
        if service in service_env and "METRICS_ADDR" not in facts[service].vars:
            print(f"[consistency] note: {overlay} sets METRICS_ADDR for {service}, which does not read it yet")

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
            wanted = {"http": port, "metrics": metrics_port.get(service)}.get(p.get("name"))
            if target not in (p.get("name"), wanted) or wanted is None:
                problems.append(f"{overlay}: Service {service} port {p.get('name')} targets {target}, pods listen on {port} (http) and {metrics_port.get(service)} (metrics)")
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
    for route in by_kind.get("HTTPRoute", []):
        problems += httproute_problems(overlay, route, services, listen_port)
    if not by_kind.get("HTTPRoute") and not by_kind.get("Ingress"):
        problems.append(f"{overlay}: neither an HTTPRoute nor an Ingress routes readers to the blog")
    if by_kind.get("HTTPRoute") and by_kind.get("Ingress"):
        problems.append(f"{overlay}: both an Ingress and an HTTPRoute route the blog; the ingress component removes the HTTPRoutes")
    for policy in policies:
        selected = policy["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name")
        if selected in listen_port:
            for rule in policy["spec"].get("ingress", []):
                for p in rule.get("ports", []):
                    if p.get("port") not in (listen_port[selected], metrics_port.get(selected)):
                        problems.append(f"{overlay}: NetworkPolicy {policy['metadata']['name']} opens {p.get('port')}, {selected} listens on {listen_port[selected]}")
        for rule in policy["spec"].get("egress", []):
            target = (rule.get("to") or [{}])[0].get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name")
            if target in listen_port:
                for p in rule.get("ports", []):
                    if p.get("port") != listen_port[target]:
                        problems.append(f"{overlay}: NetworkPolicy {policy['metadata']['name']} allows {target}:{p.get('port')}, it listens on {listen_port[target]}")
    if "render-service" in pod_labels and "posts-service" in pod_labels and not allows(
            policies, pod_labels["render-service"], pod_labels["posts-service"], listen_port["posts-service"]):
        problems.append(f"{overlay}: the NetworkPolicies do not let render-service reach posts-service:{listen_port['posts-service']}")
    report.check(f"{overlay}::services_routes_and_network_policies_use_the_listen_ports", problems)

    statefulsets = {d["metadata"]["name"]: d for d in by_kind.get("StatefulSet", [])}
    mariadb = statefulsets.get("mariadb")
    mariadb_labels = pod_spec_of(mariadb)[0]["metadata"]["labels"] if mariadb else {}
    mariadb_env = {}
    if mariadb:
        container = pod_spec_of(mariadb)[1]["containers"][0]
        for source in container.get("envFrom", []):
            mariadb_env.update(config_maps.get(source.get("configMapRef", {}).get("name"), {}))
        mariadb_env.update({e["name"]: e.get("value") for e in container.get("env", [])})

    # the database URL, and the password in one place: the Secret MariaDB reads
    problems = []
    render_env = service_env.get("render-service", {})
    url = urlparse(render_env.get("POSTS_SERVICE_URL", ""))
    if url.hostname != "posts-service" or url.port != listen_port.get("posts-service"):
        problems.append(f"{overlay}: POSTS_SERVICE_URL {render_env.get('POSTS_SERVICE_URL')} is not the posts-service Service on port {listen_port.get('posts-service')}")
    password_ref = mariadb_password_ref(mariadb)
    for env, where in [(service_env.get("posts-service", {}), "posts-service")] + [
            (e, f"Job/{w['metadata']['name']}") for w, e in migrate_jobs]:
        db = urlparse(env.get("DATABASE_URL") or "")
        if db.hostname != "mariadb" or (db.port or 3306) not in {p["port"] for p in services.get("mariadb", {}).get("spec", {}).get("ports", [])}:
            problems.append(f"{overlay}: {where}'s DATABASE_URL host/port is not the mariadb Service")
        if db.password:
            problems.append(f"{overlay}: {where}'s DATABASE_URL carries a password; it belongs in Secret {password_ref[0] if password_ref else 'mariadb-credentials'} only")
        if db.username != mariadb_env.get("MARIADB_USER") or db.path.lstrip("/") != mariadb_env.get("MARIADB_DATABASE"):
            problems.append(f"{overlay}: {where}'s DATABASE_URL user/database are not MariaDB's MARIADB_USER/MARIADB_DATABASE")
    workload_password_refs = {}
    for workload in workloads:
        pod = pod_spec_of(workload)[1]
        for container in pod.get("containers", []):
            for entry in container.get("env", []):
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if entry["name"] == "DATABASE_PASSWORD" and ref:
                    workload_password_refs[workload["metadata"]["name"]] = (ref["name"], ref["key"])
                if entry["name"] == "DATABASE_PASSWORD_FILE" and entry.get("value"):
                    workload_password_refs[workload["metadata"]["name"]] = file_secret_ref(pod, container, entry["value"])
    for name in ["posts-service"] + [w["metadata"]["name"] for w, _ in migrate_jobs]:
        if workload_password_refs.get(name) != password_ref:
            problems.append(f"{overlay}: {name} does not read DATABASE_PASSWORD from {password_ref}, the Secret key MariaDB reads")
    if password_ref and password_ref[0] in secrets:
        password = secrets[password_ref[0]].get(password_ref[1])
        for name, data in list(secrets.items()) + list(config_maps.items()):
            for key, value in data.items():
                if (name, key) != password_ref and password and password in str(value):
                    problems.append(f"{overlay}: the database password is also in {name}/{key}: keep it in {password_ref[0]} only")
    report.check(f"{overlay}::urls_between_the_services_match_and_the_password_is_in_one_place", problems)

    # least privilege: a runtime account, a migration account the migrations use, root local
    problems = []
    migration_user = mariadb_env.get("MARIADB_MIGRATION_USER")
    if mariadb_env.get("MARIADB_ROOT_HOST") != "localhost":
        problems.append(f"{overlay}: MariaDB's MARIADB_ROOT_HOST is {mariadb_env.get('MARIADB_ROOT_HOST')!r}, not localhost")
    if not migration_user or migration_user == mariadb_env.get("MARIADB_USER"):
        problems.append(f"{overlay}: MariaDB has no migration account of its own (MARIADB_MIGRATION_USER {migration_user!r})")
    migration_ref = mariadb_password_ref(mariadb, "MARIADB_MIGRATION_PASSWORD_FILE")
    if not migration_ref:
        problems.append(f"{overlay}: MariaDB reads no MARIADB_MIGRATION_PASSWORD_FILE from a Secret")
    if mariadb:
        mpod = pod_spec_of(mariadb)[1]
        mvolumes = {v["name"]: v for v in mpod.get("volumes", [])}
        if not any(m["mountPath"].startswith("/docker-entrypoint-initdb.d")
                   and mvolumes.get(m["name"], {}).get("configMap", {}).get("name", "").startswith("mariadb-accounts-script")
                   for m in mpod["containers"][0].get("volumeMounts", [])):
            problems.append(f"{overlay}: MariaDB does not run mariadb-accounts.sh (ConfigMap mariadb-accounts-script) on a new data directory")
    for env, where in [(service_env.get("posts-service", {}), "posts-service")] + [
            (e, f"Job/{w['metadata']['name']}") for w, e in migrate_jobs]:
        if env.get("MIGRATION_DATABASE_USER") != migration_user:
            problems.append(f"{overlay}: {where} migrates as {env.get('MIGRATION_DATABASE_USER')!r}, not MariaDB's migration account {migration_user!r}")
    for workload in workloads:
        name = workload["metadata"]["name"]
        if name != "posts-service" and name not in [w["metadata"]["name"] for w, _ in migrate_jobs]:
            continue
        pod = pod_spec_of(workload)[1]
        container = pod["containers"][0]
        path = next((e.get("value") for e in container.get("env", []) if e["name"] == "MIGRATION_DATABASE_PASSWORD_FILE"), None)
        if not path or file_secret_ref(pod, container, path) != migration_ref:
            problems.append(f"{overlay}: {name} does not read MIGRATION_DATABASE_PASSWORD_FILE from {migration_ref}, the Secret key MariaDB reads")
    report.check(f"{overlay}::database_accounts_have_least_privilege", problems)

    # prod: every hop over TLS
    if overlay.startswith("prod"):
        problems = []
        posts_env = service_env.get("posts-service", {})
        for var, want in (("DATABASE_TLS", "true"),):
            if posts_env.get(var) != want:
                problems.append(f"{overlay}: posts-service {var} is {posts_env.get(var)!r}, not {want!r}")
        for var in ("DATABASE_CA_FILE", "TLS_CERT_FILE", "TLS_KEY_FILE"):
            if not posts_env.get(var):
                problems.append(f"{overlay}: posts-service has no {var}")
        if url.scheme != "https" or not render_env.get("POSTS_CA_FILE"):
            problems.append(f"{overlay}: render-service calls posts-service at {url.geturl()!r} (POSTS_CA_FILE {render_env.get('POSTS_CA_FILE')!r}), not over HTTPS with a CA file")
        posts = next((w for w in workloads if w["metadata"]["name"] == "posts-service"), None)
        if posts:
            container = pod_spec_of(posts)[1]["containers"][0]
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                if container.get(probe, {}).get("httpGet", {}).get("scheme") != "HTTPS":
                    problems.append(f"{overlay}: posts-service's {probe} does not ask over HTTPS")
        cnf = cnf_settings("\n".join(str(v) for v in config_by_base.get("mariadb-server-config", {}).values()))
        if str(cnf.get("require_secure_transport", cnf.get("require-secure-transport", ""))).upper() not in ("ON", "1", "TRUE"):
            problems.append(f"{overlay}: MariaDB does not require TLS of its clients (require-secure-transport)")
        tls_files = mariadb_tls_files(mariadb, config_by_base)
        for setting in ("ssl-ca", "ssl-cert", "ssl-key"):
            if not tls_files.get(setting):
                problems.append(f"{overlay}: MariaDB's {setting} is not a file of a mounted Secret")
        # Galera: replication (socket.ssl_*) with the files MariaDB serves clients with
        if mariadb and mariadb_env.get("GALERA_CLUSTER_ADDRESS"):
            pod = pod_spec_of(mariadb)[1]
            options = galera_tls_options(mariadb_env)
            for var, (option, setting) in GALERA_TLS_FILES.items():
                path = options.get(option)
                ref = file_secret_ref(pod, pod["containers"][0], path) if path else None
                if not path:
                    problems.append(f"{overlay}: the Galera nodes get no {option} ({var}): replication in the clear")
                elif ref != tls_files.get(setting):
                    problems.append(f"{overlay}: the Galera nodes' {option} is {path} ({ref or 'not a mounted Secret key'}), not MariaDB's {setting} {tls_files.get(setting)}")
        for cronjob in (c for c in by_kind.get("CronJob", []) if c["metadata"]["name"] == "mariadb-backup"):
            problems += ca_file_problems(f"{overlay}: CronJob/mariadb-backup", pod_spec_of(cronjob)[1], config_by_base, tls_files.get("ssl-ca"))
        report.check(f"{overlay}::every_hop_is_encrypted", problems)

    problems = []
    for migrate, _ in migrate_jobs:
        if config_by_base.get("posts-service-config", {}).get("MIGRATE_ON_START") != "false":
            problems.append(f"{overlay}: Job/{migrate['metadata']['name']} migrates, so posts-service needs MIGRATE_ON_START=false")
        if not allows(policies, pod_spec_of(migrate)[0]["metadata"]["labels"], mariadb_labels, 3306):
            problems.append(f"{overlay}: the NetworkPolicies do not let Job/{migrate['metadata']['name']} reach mariadb:3306")
    if not migrate_jobs and config_by_base.get("posts-service-config", {}).get("MIGRATE_ON_START", "true") != "true":
        problems.append(f"{overlay}: MIGRATE_ON_START is off and no migration Job runs: nothing migrates")
    report.check(f"{overlay}::exactly_one_way_to_migrate", problems)

    check_galera(report, overlay, by_kind, mariadb, mariadb_env, services, service_env.get("posts-service", {}), policies)
    check_operations(report, overlay, by_kind, facts, listen_port, mariadb, mariadb_labels, config_by_base, policies, root)
    check_monitoring(report, overlay, by_kind, services, metrics_port, pod_labels, policies, root)


GALERA_PORTS = (4567, 4568, 4444, 4569)
# The Galera nodes run this project's own image (deploy/images/mariadb, target galera):
# the public mariadb image knows none of the GALERA_* settings, and a single node needs
# nothing of the Galera one. An exact Galera tag is 10.11-<the image's own version>.
GALERA_IMAGE = "mariadb-galera"
SINGLE_NODE_IMAGE = "mariadb"
GALERA_IMAGE_EXACT_TAG = r"10\.11-\d+\.\d+\.\d+"


def image_name_and_tag(image: str):
    """("mariadb-galera", "10.11") for registry.example.com/blog/mariadb-galera:10.11."""
    last = image.split("@")[0].rsplit("/", 1)[-1]
    name, _, tag = last.partition(":")
    return name, tag


def mariadb_image_problems(where, image, galera):
    """A Galera node (GALERA_CLUSTER_ADDRESS set) on the project's Galera image, a single
    node on the public mariadb image."""
    name, _ = image_name_and_tag(image)
    if galera and name != GALERA_IMAGE:
        return [f"{where}: the Galera nodes run {image}, which has no Galera mode (GALERA_* "
                f"settings): use blog/{GALERA_IMAGE} (deploy/images/mariadb, target galera)"]
    if not galera and name != SINGLE_NODE_IMAGE:
        return [f"{where}: a single MariaDB node runs {image}, not the public {SINGLE_NODE_IMAGE} image"]
    return []


def check_galera(report, overlay, by_kind, mariadb, mariadb_env, services, posts_env, policies):
    """With the galera component (GALERA_CLUSTER_ADDRESS on the mariadb StatefulSet): the
    cluster address names exactly the StatefulSet's pods, posts-service's DATABASE_URLS
    lists them too (no password), the pods start in parallel, spread over nodes, are ready
    only when synced, are found before they are ready, may lose one pod at a time to a
    drain, and reach each other on the Galera ports. Without it, no DATABASE_URLS."""
    address = mariadb_env.get("GALERA_CLUSTER_ADDRESS") if mariadb else None
    if not address:
        if posts_env.get("DATABASE_URLS"):
            report.check(f"{overlay}::galera_nodes_match_database_urls",
                         [f"{overlay}: posts-service has DATABASE_URLS but MariaDB is not a Galera cluster"])
        return
    problems = []
    template, pod = pod_spec_of(mariadb)
    spec = mariadb["spec"]
    replicas = spec.get("replicas", 1)
    pods = [f"mariadb-{i}.{spec.get('serviceName')}" for i in range(replicas)]
    listed = [h.strip() for h in address.split(",") if h.strip()]
    if listed != pods:
        problems.append(f"{overlay}: GALERA_CLUSTER_ADDRESS {listed} is not the StatefulSet's {replicas} pods {pods}")
    if replicas < 3 or replicas % 2 == 0:
        problems.append(f"{overlay}: {replicas} Galera nodes: use an odd number, at least 3, so one can fail with quorum kept")
    if spec.get("podManagementPolicy") != "Parallel":
        problems.append(f"{overlay}: StatefulSet mariadb must start its pods in parallel (podManagementPolicy: Parallel) to recover from a full stop")
    anti = (pod.get("affinity", {}).get("podAntiAffinity", {})
            .get("requiredDuringSchedulingIgnoredDuringExecution", []))
    if not any(t.get("topologyKey") == "kubernetes.io/hostname" and labels_match(t.get("labelSelector", {}).get("matchLabels"), template["metadata"]["labels"]) for t in anti):
        problems.append(f"{overlay}: the Galera pods are not spread one per node (required podAntiAffinity on kubernetes.io/hostname)")
    container = pod["containers"][0]
    if "--galera_online" not in container.get("readinessProbe", {}).get("exec", {}).get("command", []):
        problems.append(f"{overlay}: the mariadb readiness probe does not check the sync state (healthcheck.sh --galera_online)")
    service = services.get(spec.get("serviceName"), {})
    if not service.get("spec", {}).get("publishNotReadyAddresses"):
        problems.append(f"{overlay}: Service {spec.get('serviceName')} must publish not-ready pods, or the peers never find each other")
    service_ports = {p["port"] for p in service.get("spec", {}).get("ports", [])}
    urls = [urlparse(u.strip()) for u in (posts_env.get("DATABASE_URLS") or "").split(",") if u.strip()]
    if [u.hostname for u in urls] != pods:
        problems.append(f"{overlay}: posts-service's DATABASE_URLS hosts {[u.hostname for u in urls]} are not the Galera pods {pods}")
    for u in urls:
        if u.password:
            problems.append(f"{overlay}: DATABASE_URLS entry for {u.hostname} carries a password; DATABASE_PASSWORD applies to every node")
        if (u.port or 3306) not in service_ports or u.username != mariadb_env.get("MARIADB_USER") or u.path.lstrip("/") != mariadb_env.get("MARIADB_DATABASE"):
            problems.append(f"{overlay}: DATABASE_URLS entry for {u.hostname}: port, user or database is not MariaDB's")
    pdbs = [d for d in by_kind.get("PodDisruptionBudget", []) if labels_match(d["spec"].get("selector", {}).get("matchLabels"), template["metadata"]["labels"])]
    if not pdbs or any(d["spec"].get("maxUnavailable") != 1 for d in pdbs):
        problems.append(f"{overlay}: the Galera pods need a PodDisruptionBudget with maxUnavailable 1")
    labels = template["metadata"]["labels"]
    for port in GALERA_PORTS:
        if not allows(policies, labels, labels, port):
            problems.append(f"{overlay}: the NetworkPolicies do not let the mariadb pods reach each other on {port}")
    for policy in policies:
        for rule in policy["spec"].get("ingress", []):
            if not selects(policy["spec"]["podSelector"], labels):
                continue
            if any(p.get("port") in GALERA_PORTS for p in rule.get("ports", [])):
                peers = rule.get("from", [])
                name = labels.get("app.kubernetes.io/name")
                if not peers or any("podSelector" not in p or "namespaceSelector" in p
                                    or p["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name") != name
                                    for p in peers):
                    problems.append(f"{overlay}: NetworkPolicy {policy['metadata']['name']} opens a Galera port to more than the mariadb pods")
    report.check(f"{overlay}::galera_nodes_match_database_urls", problems)


def mariadb_password_ref(mariadb, variable="MARIADB_PASSWORD_FILE"):
    """(Secret, key) of an account's password as MariaDB reads it: the blog user's
    (MARIADB_PASSWORD_FILE) or the migration account's (MARIADB_MIGRATION_PASSWORD_FILE)."""
    if not mariadb:
        return None
    template, pod = pod_spec_of(mariadb)
    container = pod["containers"][0]
    path = next((e.get("value") for e in container.get("env", []) if e["name"] == variable), None)
    if not path:
        return None
    for mount in container.get("volumeMounts", []):
        if path.startswith(mount["mountPath"].rstrip("/") + "/"):
            volume = next((v for v in pod.get("volumes", []) if v["name"] == mount["name"]), {})
            if "secret" in volume:
                return (volume["secret"]["secretName"], path[len(mount["mountPath"].rstrip("/")) + 1:])
    return None


def httproute_problems(overlay, route, services, listen_port):
    problems = []
    name = f"{overlay}: HTTPRoute {route['metadata']['name']}"
    allowed = {"parentRefs", "hostnames", "rules"}
    if set(route["spec"]) - allowed:
        problems.append(f"{name}: unknown fields {sorted(set(route['spec']) - allowed)}")
    if not route["spec"].get("parentRefs"):
        problems.append(f"{name}: no parentRefs (it attaches to no Gateway)")
    for parent in route["spec"].get("parentRefs", []):
        if set(parent) - {"group", "kind", "name", "namespace", "sectionName", "port"}:
            problems.append(f"{name}: parentRef has unknown fields {sorted(parent)}")
    for rule in route["spec"].get("rules", []):
        if set(rule) - {"matches", "backendRefs", "filters", "timeouts"}:
            problems.append(f"{name}: rule has unknown fields {sorted(rule)}")
        for backend in rule.get("backendRefs", []):
            svc = services.get(backend.get("name"))
            if backend.get("name") != "render-service" or not svc:
                problems.append(f"{name}: sends traffic to {backend.get('name')}, not render-service")
            elif backend.get("port") not in {p["port"] for p in svc["spec"]["ports"] if p.get("name") == "http"}:
                problems.append(f"{name}: backend port {backend.get('port')} is not render-service's http port")
    return problems


# Variables restic itself reads, for the repository backends (S3 here), which the
# backup script leaves to it.
# secrets the services, MariaDB's image and the backup script read, which compose gives
# only as files (NAME_FILE)
PLAIN_SECRET_VARIABLES = {"API_TOKEN", "POSTS_API_TOKEN", "ADMIN_PASSWORD", "SESSION_SECRET", "DATABASE_PASSWORD",
                          "MARIADB_PASSWORD", "MARIADB_ROOT_PASSWORD", "RESTIC_PASSWORD"}
RESTIC_BACKEND_VARIABLES = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


def script_variables(root: Path):
    """The variables k8s/base/mariadb-backup.sh reads (restic's backend ones included)."""
    script = (root / BACKUP_SCRIPT).read_text()
    return set(re.findall(r"\$\{((?:MARIADB|BACKUP|RESTIC)_[A-Z_]+)", script)) | RESTIC_BACKEND_VARIABLES


def backup_pod_problems(where, pod, config_maps, secrets_ref, script_vars, backup_cm):
    """A backup or restore pod: the repository's script, the migration account's password
    (a restore drops and creates tables), nothing else."""
    problems = []
    container = pod["containers"][0]
    env = {e["name"]: e for e in container.get("env", [])}
    unknown = set(env) - script_vars
    if unknown:
        problems.append(f"{where}: sets {sorted(unknown)}, which mariadb-backup.sh does not read")
    command = container.get("command", []) + container.get("args", [])
    mounts = {m["mountPath"]: m for m in container.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    script_mount = next((m for path, m in mounts.items() if any(c.startswith(path + "/") and c.endswith("mariadb-backup.sh") for c in command)), None)
    if not script_mount or volumes.get(script_mount["name"], {}).get("configMap", {}).get("name") != backup_cm:
        problems.append(f"{where}: does not run mariadb-backup.sh from ConfigMap {backup_cm}")
    password_file = env.get("MARIADB_PASSWORD_FILE", {}).get("value", "")
    password_mount = next((m for path, m in mounts.items() if password_file.startswith(path + "/")), None)
    secret = volumes.get(password_mount["name"], {}).get("secret", {}) if password_mount else {}
    items = {i["path"]: i["key"] for i in secret.get("items", [])}
    key = items.get(password_file.rsplit("/", 1)[-1], password_file.rsplit("/", 1)[-1])
    if (secret.get("secretName"), key) != secrets_ref:
        problems.append(f"{where}: MARIADB_PASSWORD_FILE is not the Secret key of the migration account's password ({secrets_ref})")
    if "MARIADB_PASSWORD" in env:
        problems.append(f"{where}: the password belongs in a file (MARIADB_PASSWORD_FILE), not the environment")
    for name, mariadbs in (("MARIADB_USER", "MARIADB_MIGRATION_USER"), ("MARIADB_DATABASE", "MARIADB_DATABASE")):
        entry = env.get(name, {})
        value = entry.get("value")
        ref = entry.get("valueFrom", {}).get("configMapKeyRef")
        if ref:
            value = config_maps.get(re.sub(r"-[a-z0-9]{10}$", "", ref["name"]), {}).get(ref["key"])
        if not value or value != config_maps.get("mariadb-config", {}).get(mariadbs):
            problems.append(f"{where}: {name} is {value!r}, MariaDB's {mariadbs} is {config_maps.get('mariadb-config', {}).get(mariadbs)!r}")
    if pod.get("serviceAccountName") != "mariadb-backup" or pod.get("automountServiceAccountToken") is not False:
        problems.append(f"{where}: should run as ServiceAccount mariadb-backup without a token")
    return problems + restricted_problems(where, pod)


def check_operations(report, overlay, by_kind, facts, listen_port, mariadb, mariadb_labels, config_by_base, policies, root):
    # HPAs own the replica counts; PDBs allow one disruption
    problems = []
    deployments = {d["metadata"]["name"]: d for d in by_kind.get("Deployment", [])}
    hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in by_kind.get("HorizontalPodAutoscaler", [])}
    for name, deployment in deployments.items():
        hpa = hpas.get(name)
        if not hpa:
            problems.append(f"{overlay}: Deployment {name} has no HorizontalPodAutoscaler")
            continue
        if "replicas" in deployment["spec"]:
            problems.append(f"{overlay}: Deployment {name} sets replicas, which its HPA decides (an apply would reset it)")
        behavior = hpa["spec"].get("behavior", {})
        if not behavior.get("scaleUp") or not behavior.get("scaleDown"):
            problems.append(f"{overlay}: HPA {name} has no scaleUp and scaleDown behavior")
        labels = pod_spec_of(deployment)[0]["metadata"]["labels"]
        pdbs = [p for p in by_kind.get("PodDisruptionBudget", []) if labels_match(p["spec"]["selector"].get("matchLabels"), labels)]
        if len(pdbs) != 1:
            problems.append(f"{overlay}: Deployment {name} has {len(pdbs)} PodDisruptionBudgets, not one")
        for pdb in pdbs:
            if pdb["spec"].get("maxUnavailable") != 1 or "minAvailable" in pdb["spec"]:
                problems.append(f"{overlay}: PDB {pdb['metadata']['name']} should be maxUnavailable: 1")
            if pdb["spec"].get("unhealthyPodEvictionPolicy") != "AlwaysAllow":
                problems.append(f"{overlay}: PDB {pdb['metadata']['name']} should have unhealthyPodEvictionPolicy: AlwaysAllow")
    report.check(f"{overlay}::hpas_own_replicas_and_pdbs_allow_one_disruption", problems)

    # MariaDB: pinned, tuned to its pod, with room for every pool at the HPAs' maxima
    problems = []
    if not mariadb:
        report.check(f"{overlay}::mariadb_is_pinned_tuned_and_has_room_for_every_pool", [f"{overlay}: no StatefulSet mariadb"])
        return
    template, pod = pod_spec_of(mariadb)
    container = pod["containers"][0]
    image = container["image"]
    if container.get("imagePullPolicy") != "IfNotPresent":
        problems.append(f"{overlay}: MariaDB's imagePullPolicy is {container.get('imagePullPolicy')}, not IfNotPresent")
    name, tag = image_name_and_tag(image)
    galera = any(e.get("name") == "GALERA_CLUSTER_ADDRESS" for e in container.get("env", []))
    if not tag.startswith("10.11"):
        problems.append(f"{overlay}: MariaDB image {image} is not 10.11")
    exact = GALERA_IMAGE_EXACT_TAG if galera else r"10\.11\.\d+"
    if overlay.startswith("prod") and "@sha256:" not in image and not re.fullmatch(exact, tag):
        problems.append(f"{overlay}: MariaDB image {image} is a moving tag: pin an exact version or a digest")
    report.check(f"{overlay}::mariadb_image_fits_the_topology", mariadb_image_problems(overlay, image, galera))
    cnf_volume = next((v for v in pod.get("volumes", []) if v.get("configMap", {}).get("name", "").startswith("mariadb-server-config")), None)
    mount = next((m for m in container.get("volumeMounts", []) if cnf_volume and m["name"] == cnf_volume["name"]), None)
    if not mount or not mount["mountPath"].startswith("/etc/mysql/conf.d/"):
        problems.append(f"{overlay}: ConfigMap mariadb-server-config is not mounted into /etc/mysql/conf.d/")
    cnf = cnf_settings(config_by_base.get("mariadb-server-config", {}).get(mount.get("subPath", "mariadb.cnf") if mount else "mariadb.cnf", ""))
    limit = memory_bytes(container.get("resources", {}).get("limits", {}).get("memory", "0"))
    pool = cnf.get("innodb_buffer_pool_size", 128 * 2**20)
    if not (0.4 * limit <= pool <= 0.75 * limit):
        problems.append(f"{overlay}: innodb_buffer_pool_size {pool} is not 40-75 % of MariaDB's memory limit {limit}")
    max_connections = int(cnf.get("max_connections", 151))
    pool_max = int(config_by_base.get("posts-service-config", {}).get("DB_POOL_MAX", facts["posts-service"].pool_max_default))
    budget, terms = 0, []
    for name, deployment in deployments.items():
        if service_of_image(pod_spec_of(deployment)[1]["containers"][0]["image"]) != "posts-service":
            continue
        most = hpas[name]["spec"]["maxReplicas"] if name in hpas else deployment["spec"].get("replicas", 1)
        surge = surge_pods(deployment, most)
        budget += (most + surge) * pool_max
        terms.append(f"({most} + {surge}) x {pool_max}")
    print(f"[consistency] {overlay}: connection budget {' + '.join(terms)} = {budget}, "
          f"+ reserve {CONNECTION_RESERVE}, of max_connections {max_connections}")
    if budget > max_connections - CONNECTION_RESERVE:
        problems.append(f"{overlay}: the pools can open {budget} connections at the HPAs' maxima plus surge; "
                        f"max_connections {max_connections} less the reserve {CONNECTION_RESERVE} leaves {max_connections - CONNECTION_RESERVE}")
    report.check(f"{overlay}::mariadb_is_pinned_tuned_and_has_room_for_every_pool", problems)

    # a ServiceAccount per workload, without tokens; the restricted standard everywhere
    problems = []
    accounts = {a["metadata"]["name"]: a for a in by_kind.get("ServiceAccount", [])}
    used = {}
    for workload in (d for kind in ("Deployment", "StatefulSet", "Job", "CronJob") for d in by_kind.get(kind, [])):
        where = f"{overlay}: {workload['kind']}/{workload['metadata']['name']}"
        pod = pod_spec_of(workload)[1]
        account = pod.get("serviceAccountName", "default")
        if account in used:
            problems.append(f"{where}: shares ServiceAccount {account} with {used[account]}")
        used[account] = workload["metadata"]["name"]
        if account not in accounts:
            problems.append(f"{where}: runs as ServiceAccount {account}, which the overlay does not create")
        elif accounts[account].get("automountServiceAccountToken") is not False or pod.get("automountServiceAccountToken") is not False:
            problems.append(f"{where}: mounts a ServiceAccount token")
        problems += restricted_problems(where, pod)
    report.check(f"{overlay}::a_service_account_per_workload_and_restricted_pods", problems)

    # the recommended labels
    problems = []
    for doc in (d for docs in by_kind.values() for d in docs):
        where = f"{overlay}: {doc['kind']}/{doc['metadata']['name']}"
        labels = doc["metadata"].get("labels", {})
        wanted = ("app.kubernetes.io/part-of", "app.kubernetes.io/managed-by", "app.kubernetes.io/instance")
        if doc["kind"] not in ("ConfigMap", "Secret", "NetworkPolicy", "Namespace"):
            wanted += ("app.kubernetes.io/name", "app.kubernetes.io/component")
        if doc["kind"] in ("Deployment", "StatefulSet", "CronJob", "Job"):
            wanted += ("app.kubernetes.io/version",)
            template_labels = pod_spec_of(doc)[0]["metadata"].get("labels", {})
            missing = [k for k in RECOMMENDED if k not in template_labels]
            if missing:
                problems.append(f"{where}: its pods lack {missing}")
            service = service_of_image(pod_spec_of(doc)[1]["containers"][0]["image"])
            if service and labels.get("app.kubernetes.io/version") != facts[service].version:
                problems.append(f"{where}: version label {labels.get('app.kubernetes.io/version')}, {service}'s Cargo.toml says {facts[service].version}")
        missing = [k for k in wanted if k not in labels]
        if missing:
            problems.append(f"{where}: lacks {missing}")
    report.check(f"{overlay}::every_object_has_the_recommended_labels", problems)

    # the backup CronJob
    problems = []
    cronjobs = [c for c in by_kind.get("CronJob", []) if c["metadata"]["name"] == "mariadb-backup"]
    config_maps = {name: data for name, data in config_by_base.items()}
    if len(cronjobs) != 1:
        problems.append(f"{overlay}: no CronJob mariadb-backup")
    for cronjob in cronjobs:
        where = f"{overlay}: CronJob/mariadb-backup"
        template, pod = pod_spec_of(cronjob)
        problems += backup_pod_problems(where, pod, config_maps, mariadb_password_ref(mariadb, "MARIADB_MIGRATION_PASSWORD_FILE"), script_variables(root), "mariadb-backup-script")
        if cronjob["spec"].get("concurrencyPolicy") != "Forbid":
            problems.append(f"{where}: two backups could run at once (concurrencyPolicy is not Forbid)")
        container = pod["containers"][0]
        keep = next((e.get("value") for e in container.get("env", []) if e["name"] == "BACKUP_KEEP"), None)
        if not (keep or "").isdigit() or int(keep) < 1:
            problems.append(f"{where}: BACKUP_KEEP {keep!r} is not a number of backups to keep")
        backup_dir = next((e.get("value") for e in container.get("env", []) if e["name"] == "BACKUP_DIR"), "/backups")
        mount = next((m for m in container.get("volumeMounts", []) if m["mountPath"] == backup_dir), None)
        claim = next((v.get("persistentVolumeClaim", {}).get("claimName") for v in pod.get("volumes", []) if mount and v["name"] == mount["name"]), None)
        claims = {c["metadata"]["name"] for c in by_kind.get("PersistentVolumeClaim", [])}
        if claim not in claims:
            problems.append(f"{where}: BACKUP_DIR {backup_dir} is not on a PersistentVolumeClaim of the overlay")
        for other in (d for kind in ("Deployment", "StatefulSet") for d in by_kind.get(kind, [])):
            if any(v.get("persistentVolumeClaim", {}).get("claimName") == claim for v in pod_spec_of(other)[1].get("volumes", [])):
                problems.append(f"{where}: its volume {claim} is also mounted by {other['metadata']['name']}")
        if not allows(policies, template["metadata"]["labels"], mariadb_labels, 3306):
            problems.append(f"{where}: the NetworkPolicies do not let it reach mariadb:3306")
    script = config_by_base.get("mariadb-backup-script", {}).get("mariadb-backup.sh")
    if script != (root / BACKUP_SCRIPT).read_text():
        problems.append(f"{overlay}: ConfigMap mariadb-backup-script is not {BACKUP_SCRIPT} (the one script compose mounts too)")
    report.check(f"{overlay}::backup_cronjob_runs_the_script_safely_and_reaches_mariadb", problems)


def prometheus_rule_groups(root: Path):
    return yaml.safe_load((root / ALERTS).read_text())["groups"]


def check_monitoring(report, overlay, by_kind, services, metrics_port, pod_labels, policies, root):
    monitors = by_kind.get("ServiceMonitor", [])
    rules = by_kind.get("PrometheusRule", [])
    if not monitors and not rules:
        return
    problems = []
    monitored = set()
    for monitor in monitors:
        where = f"{overlay}: ServiceMonitor {monitor['metadata']['name']}"
        selector = monitor["spec"]["selector"].get("matchLabels", {})
        matched = [s for s in services.values() if labels_match(selector, s["metadata"].get("labels", {}))]
        if len(matched) != 1:
            problems.append(f"{where}: selects {len(matched)} Services, not one")
            continue
        svc = matched[0]
        name = svc["metadata"]["name"]
        monitored.add(name)
        for endpoint in monitor["spec"].get("endpoints", []):
            port = next((p for p in svc["spec"]["ports"] if p.get("name") == endpoint.get("port")), None)
            if not port or port["port"] != metrics_port.get(name):
                problems.append(f"{where}: port {endpoint.get('port')} is not {name}'s metrics port {metrics_port.get(name)}")
            if endpoint.get("path", "/metrics") != "/metrics":
                problems.append(f"{where}: scrapes {endpoint.get('path')}, not /metrics")
            allowed = any(selects(p["spec"]["podSelector"], pod_labels.get(name, {})) and any(
                "namespaceSelector" in peer for peer in rule.get("from", [])) and any(
                x.get("port") == metrics_port.get(name) for x in rule.get("ports", []))
                for p in policies for rule in p["spec"].get("ingress", []))
            if not allowed:
                problems.append(f"{where}: no NetworkPolicy lets Prometheus reach {name}:{metrics_port.get(name)}")
    for service in SERVICES:
        if service not in monitored:
            problems.append(f"{overlay}: no ServiceMonitor scrapes {service}")
    for rule in rules:
        if rule["spec"].get("groups") != prometheus_rule_groups(root):
            problems.append(f"{overlay}: PrometheusRule {rule['metadata']['name']} differs from {ALERTS}: "
                            "run .venv-k8s/bin/python tests/k8s/consistency.py --root . --write-prometheusrule")
    if len(rules) != 1:
        problems.append(f"{overlay}: {len(rules)} PrometheusRules, not one")
    report.check(f"{overlay}::monitoring_scrapes_both_metrics_ports_with_the_tested_rules", problems)


def check_ops_job_tls(report, path: Path, docs, overlay, overlay_docs):
    """In a prod overlay (MariaDB requires TLS) a Job of k8s/ops/, created as it is beside
    it, connects with MariaDB's CA: its MARIADB_CA_FILE, as that overlay's ConfigMaps
    resolve it, is a mounted file of the Secret key MariaDB's ssl-ca is."""
    config_maps = {re.sub(r"-[a-z0-9]{10}$", "", d["metadata"]["name"]): d.get("data") or {} for d in overlay_docs if d["kind"] == "ConfigMap"}
    mariadb = next((d for d in overlay_docs if d["kind"] == "StatefulSet" and d["metadata"]["name"] == "mariadb"), None)
    mariadb_ca = mariadb_tls_files(mariadb, config_maps).get("ssl-ca")
    for job in docs:
        where = f"{path.name} in {overlay}: {job['kind']}/{job['metadata'].get('name') or job['metadata'].get('generateName')}"
        report.check(f"ops::{path.stem}::{overlay}::connects_over_tls", ca_file_problems(where, pod_spec_of(job)[1], config_maps, mariadb_ca))


def check_ops_job(report, path: Path, docs, facts_docs, root):
    """A standalone Job of k8s/ops/ against the base it runs beside (dev's build)."""
    by_kind = {}
    for doc in facts_docs:
        by_kind.setdefault(doc["kind"], []).append(doc)
    config_maps = {re.sub(r"-[a-z0-9]{10}$", "", d["metadata"]["name"]): d.get("data", {}) for d in by_kind.get("ConfigMap", [])}
    mariadb = next((d for d in by_kind.get("StatefulSet", []) if d["metadata"]["name"] == "mariadb"), None)
    mariadb_labels = pod_spec_of(mariadb)[0]["metadata"]["labels"] if mariadb else {}
    for job in docs:
        where = f"{path.name}: {job['kind']}/{job['metadata'].get('name') or job['metadata'].get('generateName')}"
        template, pod = pod_spec_of(job)
        problems = backup_pod_problems(where, pod, config_maps, mariadb_password_ref(mariadb, "MARIADB_MIGRATION_PASSWORD_FILE"), script_variables(root), "mariadb-backup-script")
        claims = {c["metadata"]["name"] for c in by_kind.get("PersistentVolumeClaim", [])}
        for volume in pod.get("volumes", []):
            claim = volume.get("persistentVolumeClaim", {}).get("claimName")
            if claim and claim not in claims:
                problems.append(f"{where}: mounts PVC {claim}, which the manifests do not create")
        if not allows(by_kind.get("NetworkPolicy", []), template["metadata"]["labels"], mariadb_labels, 3306):
            problems.append(f"{where}: the NetworkPolicies do not let it reach mariadb:3306")
        report.check(f"ops::{path.stem}::runs_the_script_safely_and_reaches_mariadb", problems)



def interpolated_default(value):
    """`${VAR:-default}` -> default (what compose uses without an .env)."""
    return re.sub(r"\$\{[A-Z0-9_]+:?-([^}]*)\}", r"\1", str(value))


def compose_env(svc):
    env = svc.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return env


def check_compose(report, path: Path, facts, drain, targets, root, galera_path=None):
    compose = yaml.safe_load(path.read_text())
    services = compose["services"]
    metrics_port = {}
    for name in SERVICES:
        f = facts[name]
        svc = services.get(name)
        if not svc:
            report.check(f"compose::{name}::present", [f"docker-compose.yml has no service {name}"])
            continue
        where = f"docker-compose.yml: {name}"
        env = compose_env(svc)
        problems = env_problems(where, name, set(env), f.allowed, f.required)
        if svc.get("env_file"):
            problems.append(f"{where}: env_file hides which variables are set; list them in environment")
        report.check(f"compose::{name}::environment", problems)

        problems = []
        port = port_of(interpolated_default(env["LISTEN_ADDR"])) if "LISTEN_ADDR" in env else f.default_port
        for mapping in svc.get("ports", []):
            target = int(str(interpolated_default(mapping)).rsplit(":", 1)[-1].split("/")[0]) if not isinstance(mapping, dict) else mapping["target"]
            if target != port:
                problems.append(f"{where}: publishes container port {target}, the service listens on {port}")
        listening = {port}
        if "METRICS_ADDR" in env:
            metrics_port[name] = port_of(interpolated_default(env["METRICS_ADDR"]))
            listening.add(metrics_port[name])
        exposed = {int(str(e).split("/")[0]) for e in svc.get("expose", [])}
        if exposed - listening:
            problems.append(f"{where}: exposes {sorted(exposed - listening)}, the service listens on {sorted(listening)}")
        if name in metrics_port and metrics_port[name] not in exposed:
            problems.append(f"{where}: does not expose its metrics port {metrics_port[name]}")
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
    if db.password:
        problems.append("docker-compose.yml: DATABASE_URL carries a password (it belongs in DATABASE_PASSWORD_FILE)")
    if not render_env.get("POSTS_API_TOKEN_FILE") or render_env.get("POSTS_API_TOKEN_FILE") != posts_env.get("API_TOKEN_FILE"):
        problems.append("docker-compose.yml: POSTS_API_TOKEN_FILE and API_TOKEN_FILE are not the same secret")
    report.check("compose::urls_between_the_services_match", problems)

    # secrets: files under /run/secrets, each a secret the service mounts and the file
    # declares; none in the environment
    problems = []
    declared = set((compose.get("secrets") or {}).keys())
    compose_services = dict(services)
    if galera_path:
        for n, svc in yaml.safe_load(galera_path.read_text())["services"].items():
            compose_services[f"{galera_path.name}: {n}"] = svc
    for name, svc in compose_services.items():
        env = compose_env(svc)
        mounted = set(svc.get("secrets") or [])
        for var, value in env.items():
            if var in PLAIN_SECRET_VARIABLES and value not in (None, ""):
                problems.append(f"{name}: {var} is in the environment; use {var}_FILE and a secret")
            if var.endswith("_FILE") and str(value).startswith("/run/secrets/"):
                secret = str(value).removeprefix("/run/secrets/")
                if secret not in declared:
                    problems.append(f"{name}: {var} reads secret {secret}, which docker-compose.yml does not declare")
                if secret not in mounted:
                    problems.append(f"{name}: {var} reads secret {secret}, which it does not mount")
    for secret, spec in (compose.get("secrets") or {}).items():
        path = str((spec or {}).get("file", ""))
        default = re.sub(r"\$\{SECRETS_DIR:-([^}]*)\}", r"\1", path)
        if not default.startswith("./") or not (root / default).is_file():
            problems.append(f"docker-compose.yml: secret {secret} has no default file in the repository ({path})")
    report.check("compose::secrets_are_mounted_files", problems)

    # Prometheus (profile monitoring) scrapes the metrics ports with the repository's files
    problems = []
    prom = services.get("prometheus", {})
    if "monitoring" not in prom.get("profiles", []):
        problems.append("docker-compose.yml: no service prometheus under profile monitoring")
    version = re.search(r"^PROMETHEUS_VERSION=(\S+)", (root / "deploy/build-images.sh").read_text(), re.M)
    if not version or prom.get("image") != f"prom/prometheus:v{version.group(1)}":
        problems.append(f"docker-compose.yml: prometheus runs {prom.get('image')}, deploy/build-images.sh builds prom/prometheus:v{version.group(1) if version else '?'}")
    if not any(str(v).startswith("./deploy/prometheus:/etc/prometheus") for v in prom.get("volumes", [])):
        problems.append("docker-compose.yml: prometheus does not mount ./deploy/prometheus at /etc/prometheus")
    for mapping in prom.get("ports", []):
        if not str(mapping).startswith("127.0.0.1:"):
            problems.append(f"docker-compose.yml: prometheus publishes {mapping} beyond 127.0.0.1")
    scrape = yaml.safe_load((root / "deploy/prometheus/prometheus.yml").read_text())
    jobs = {j["job_name"]: [t for c in j.get("static_configs", []) for t in c["targets"]] for j in scrape["scrape_configs"]}
    for name in SERVICES:
        wanted = [f"{name}:{metrics_port.get(name)}"]
        if jobs.get(name) != wanted:
            problems.append(f"deploy/prometheus/prometheus.yml: job {name} scrapes {jobs.get(name)}, its metrics listener is {wanted}")
        if not set(prom.get("networks", [])) & set(services.get(name, {}).get("networks", [])):
            problems.append(f"docker-compose.yml: prometheus shares no network with {name}")
    # nothing rewrites the targets: the metrics listeners are scraped where they are
    for job in scrape["scrape_configs"]:
        if any(r.get("target_label") == "__address__" for r in job.get("relabel_configs", [])):
            problems.append(f"deploy/prometheus/prometheus.yml: {job['job_name']} rewrites its target address")
    if scrape.get("rule_files") != ["alerts.yml"]:
        problems.append("deploy/prometheus/prometheus.yml: rule_files should be [alerts.yml]")
    report.check("compose::prometheus_scrapes_both_metrics_listeners", problems)

    # MariaDB's image: the public one for the single node (and, with restic added, for
    # the backup and restore jobs), the project's Galera image, built from its target, for the cluster's nodes
    problems = []
    image = services.get("mariadb", {}).get("image", "")
    if image != "mariadb:10.11":
        problems.append(f"docker-compose.yml: mariadb runs {image!r}, not mariadb:10.11")
    # the backup jobs: that image plus restic (deploy/images/mariadb-backup builds it FROM it)
    backup_from = re.search(r"^FROM (\S+)", (root / "deploy/images/mariadb-backup/Dockerfile").read_text(), re.M)
    if not backup_from or backup_from.group(1) != "mariadb:10.11":
        problems.append("deploy/images/mariadb-backup is not built FROM mariadb:10.11")
    for name in ("backup", "restore", "restore-restic"):
        image = services.get(name, {}).get("image", "")
        if image != "blog/mariadb-backup:10.11":
            problems.append(f"docker-compose.yml: {name} runs {image!r}, not blog/mariadb-backup:10.11")
    if galera_path:
        galera_services = yaml.safe_load(galera_path.read_text())["services"]
        nodes = {n: svc for n, svc in galera_services.items() if "GALERA_CLUSTER_ADDRESS" in compose_env(svc)}
        if len(nodes) < 3:
            problems.append(f"{galera_path.name}: {len(nodes)} Galera nodes, not 3")
        dockerfile = (root / "deploy/images/mariadb/Dockerfile").read_text()
        stages = set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", dockerfile, re.M | re.I))
        for n, svc in nodes.items():
            where = f"{galera_path.name}: {n}"
            problems += mariadb_image_problems(where, svc.get("image", ""), True)
            build = svc.get("build") or {}
            context = (galera_path.parent / str(build.get("context", "") if isinstance(build, dict) else "")).resolve()
            if not isinstance(build, dict) or build.get("target") != "galera" or "galera" not in stages or \
                    context != (root / "deploy/images/mariadb").resolve():
                problems.append(f"{where}: builds {build}, not deploy/images/mariadb's galera target (stages {sorted(stages)})")
    report.check("compose::mariadb_image_fits_the_topology", problems)

    # backup and restore (profile ops): the script, MariaDB's own credentials
    problems = []
    mariadb_env = compose_env(services.get("mariadb", {}))
    script_vars = script_variables(root)
    for name, command in (("backup", "backup"), ("restore", "restore"), ("restore-restic", "restore-restic")):
        svc = services.get(name, {})
        where = f"docker-compose.yml: {name}"
        if "ops" not in svc.get("profiles", []):
            problems.append(f"{where}: missing, or not under profile ops")
            continue
        env = compose_env(svc)
        if set(env) - script_vars:
            problems.append(f"{where}: sets {sorted(set(env) - script_vars)}, which mariadb-backup.sh does not read")
        # the migration account: a restore drops and creates tables
        for var, mariadbs in (("MARIADB_USER", "MARIADB_MIGRATION_USER"), ("MARIADB_PASSWORD_FILE", "MARIADB_MIGRATION_PASSWORD_FILE")):
            if not env.get(var) or interpolated_default(env.get(var)) != interpolated_default(mariadb_env.get(mariadbs)):
                problems.append(f"{where}: {var} is not mariadb's {mariadbs}")
        if env.get("MARIADB_DATABASE") != mariadb_env.get("MARIADB_DATABASE"):
            problems.append(f"{where}: MARIADB_DATABASE is not mariadb's")
        mounts = {str(v).split(":")[1]: str(v).split(":")[0] for v in svc.get("volumes", [])}
        entry = svc.get("entrypoint", [])
        if entry[:1] != ["/usr/local/bin/mariadb-backup.sh"] or mounts.get(entry[0]) != f"./{BACKUP_SCRIPT}" or entry[1:2] != [command]:
            problems.append(f"{where}: should run ./{BACKUP_SCRIPT} {command} (entrypoint {entry})")
        if "database" not in svc.get("networks", []):
            problems.append(f"{where}: not on the database network")
    report.check("compose::backup_and_restore_run_the_script_with_mariadbs_credentials", problems)

    # least privilege: every MariaDB (the single node, each Galera node) keeps root local
    # and makes the migration account, which posts-service migrates with
    problems = []
    nodes = {"docker-compose.yml: mariadb": (services.get("mariadb", {}), mariadb_env)}
    galera_services = yaml.safe_load(galera_path.read_text())["services"] if galera_path else {}
    for n, svc in galera_services.items():
        if "GALERA_CLUSTER_ADDRESS" in compose_env(svc):
            merged = dict(mariadb_env) if n == "mariadb" else {}
            merged.update(compose_env(svc))
            nodes[f"{galera_path.name}: {n}"] = (svc, merged)
    posts_env = compose_env(services.get("posts-service", {}))
    for where, (svc, env) in nodes.items():
        if env.get("MARIADB_ROOT_HOST") != "localhost":
            problems.append(f"{where}: MARIADB_ROOT_HOST is {env.get('MARIADB_ROOT_HOST')!r}, not localhost")
        if not env.get("MARIADB_MIGRATION_USER") or interpolated_default(env.get("MARIADB_MIGRATION_USER")) == interpolated_default(env.get("MARIADB_USER")):
            problems.append(f"{where}: no migration account of its own (MARIADB_MIGRATION_USER)")
        for var, posts_var in (("MARIADB_MIGRATION_USER", "MIGRATION_DATABASE_USER"), ("MARIADB_MIGRATION_PASSWORD_FILE", "MIGRATION_DATABASE_PASSWORD_FILE")):
            if interpolated_default(env.get(var)) != interpolated_default(posts_env.get(posts_var)):
                problems.append(f"{where}: {var} is not posts-service's {posts_var}")
        volumes = [str(v) for v in svc.get("volumes", [])] or [str(v) for v in services.get("mariadb", {}).get("volumes", [])]
        if not any(v.startswith("./k8s/base/mariadb-accounts.sh:/docker-entrypoint-initdb.d/") for v in volumes):
            problems.append(f"{where}: does not mount ./k8s/base/mariadb-accounts.sh into /docker-entrypoint-initdb.d")
    report.check("compose::database_accounts_have_least_privilege", problems)

    # the Galera file: every hop over TLS
    if galera_path:
        problems = []
        where = galera_path.name
        for n, svc in galera_services.items():
            env = compose_env(svc)
            if "GALERA_CLUSTER_ADDRESS" not in env:
                continue
            options = galera_tls_options(env)
            for var, (option, _) in GALERA_TLS_FILES.items():
                if not options.get(option):
                    problems.append(f"{where}: {n}: no {option} ({var}): replication in the clear")
            if not any(str(v).startswith("./deploy/galera/tls.cnf:/etc/mysql/conf.d/") for v in svc.get("volumes", [])):
                problems.append(f"{where}: {n}: does not mount deploy/galera/tls.cnf (clients and state transfers without TLS)")
        tls_cnf = (root / "deploy/galera/tls.cnf").read_text()
        settings = cnf_settings(tls_cnf)
        if str(settings.get("require-secure-transport", "")).upper() != "ON" or not re.search(r"^\[sst\][^\[]*^ssl-mode\s*=\s*VERIFY_", tls_cnf, re.M | re.S):
            problems.append("deploy/galera/tls.cnf: TLS is not required of clients, or state transfers do not verify the peer")
        posts = {**posts_env, **compose_env(galera_services.get("posts-service", {}))}
        render = {**compose_env(services.get("render-service", {})), **compose_env(galera_services.get("render-service", {}))}
        if str(posts.get("DATABASE_TLS")) != "true" or not posts.get("DATABASE_CA_FILE"):
            problems.append(f"{where}: posts-service does not connect to MariaDB over TLS with a CA file")
        if not posts.get("TLS_CERT_FILE") or not posts.get("TLS_KEY_FILE"):
            problems.append(f"{where}: posts-service does not serve HTTPS")
        if not str(render.get("POSTS_SERVICE_URL", "")).startswith("https://") or not render.get("POSTS_CA_FILE"):
            problems.append(f"{where}: render-service does not call posts-service over HTTPS with a CA file")
        for job in ("backup", "restore", "restore-restic"):
            if not compose_env(galera_services.get(job, {})).get("MARIADB_CA_FILE"):
                problems.append(f"{where}: {job} does not connect over TLS (MARIADB_CA_FILE)")
        report.check("compose::galera_encrypts_every_hop", problems)


def write_prometheus_rule(root: Path):
    """Rewrites the monitoring component's PrometheusRule from deploy/prometheus/alerts.yml."""
    class Dumper(yaml.SafeDumper):
        pass
    Dumper.add_representer(str, lambda d, v: d.represent_scalar(
        "tag:yaml.org,2002:str", v, style="|" if "\n" in v else None))
    target = root / PROMETHEUS_RULE
    header = "".join(line for line in target.read_text().splitlines(True) if line.startswith("#"))
    doc = yaml.safe_load(target.read_text())
    doc["spec"] = {"groups": prometheus_rule_groups(root)}
    target.write_text(header + yaml.dump(doc, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=4096))
    print(f"wrote {PROMETHEUS_RULE}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--compose", type=Path)
    parser.add_argument("--compose-galera", type=Path,
                        help="the Galera override of the compose file (default: docker-compose.galera.yml beside it)")
    parser.add_argument("--ops", type=Path, action="append", default=[],
                        help="a standalone Job of k8s/ops/, checked against the dev overlay")
    parser.add_argument("--write-prometheusrule", action="store_true",
                        help=f"rewrite {PROMETHEUS_RULE} from {ALERTS} and exit")
    parser.add_argument("overlays", nargs="*", help="NAME=built-manifests.yaml")
    args = parser.parse_args()
    if args.write_prometheusrule:
        write_prometheus_rule(args.root)
        return 0
    if not args.compose or not args.overlays:
        parser.error("--compose and at least one overlay are required")

    facts = {name: ServiceFacts(args.root, name) for name in SERVICES}
    drain = drain_seconds(args.root)
    targets = dockerfile_targets(args.root)
    for f in facts.values():
        print(f"[consistency] {f.name}: reads {sorted(f.vars)}; requires {sorted(f.required)}; "
              f"listens on {f.default_port} by default; serves {sorted(f.paths)}")

    report = Report()
    built = {}
    for item in args.overlays:
        name, path = item.split("=", 1)
        built[name] = [d for d in yaml.safe_load_all(Path(path).read_text()) if d]
        check_overlay(report, name, built[name], facts, drain, targets, args.root)
    for path in args.ops:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        check_ops_job(report, path, docs, built.get("dev", next(iter(built.values()))), args.root)
        for name, overlay_docs in built.items():
            if name.startswith("prod"):
                check_ops_job_tls(report, path, docs, name, overlay_docs)
    galera = args.compose_galera or args.compose.parent / "docker-compose.galera.yml"
    check_compose(report, args.compose, facts, drain, targets, args.root, galera if galera.exists() else None)
    print(f"[consistency] {report.passed} passed, {report.failed} failed")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
