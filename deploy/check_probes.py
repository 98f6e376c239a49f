#!/usr/bin/env python3
"""Cross-checks deploy/kubernetes/*.yaml against each other and against the app.

Schema validation (kubernetes-validate) cannot see these: probe paths that the app does not
serve, a probe on the wrong port, a grace period shorter than the drain, a Service selecting
the migrate Job's pod, an env key that the app's settings loader rejects.

Usage: check_probes.py [REPO_ROOT]   (default: the parent of this file's folder)
Needs PyYAML (a dependency of kubernetes-validate) and Python >= 3.11 (tomllib).
Exits 1 listing every failed check.
"""

import re
import sys
from pathlib import Path

try:
    import yaml
except ImportError:  # pragma: no cover
    sys.exit("check_probes.py: PyYAML is missing; run it with target/deploy-venv/bin/python")
try:
    import tomllib
except ImportError:  # pragma: no cover
    tomllib = None

ROOT = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent)
K8S = ROOT / "deploy" / "kubernetes"
HEALTH_RS = ROOT / "src" / "routes" / "health.rs"
DEFAULT_TOML = ROOT / "config" / "default.toml"

HTTP_PORT = 8080
METRICS_PORT = 9090
RUN_AS_USER = 10001
# Keys accepted under [secrets] (src/settings.rs SecretSettings); never in config files.
SECRET_KEYS = {"session_key", "session_key_file", "data_key", "data_key_file"}

failures: list[str] = []
passed = 0


def check(ok: bool, what: str) -> bool:
    global passed
    if ok:
        passed += 1
    else:
        failures.append(what)
    return ok


def load(name: str) -> list[dict]:
    path = K8S / name
    if not path.is_file():
        failures.append(f"{path.relative_to(ROOT)} is missing")
        return []
    try:
        return [d for d in yaml.safe_load_all(path.read_text()) if d]
    except yaml.YAMLError as e:
        failures.append(f"{name} is not valid YAML: {e}")
        return []


def one(name: str, kind: str) -> dict:
    docs = [d for d in load(name) if d.get("kind") == kind]
    if not check(len(docs) == 1, f"{name}: expected exactly one {kind}, found {len(docs)}"):
        return {}
    return docs[0]


def dig(obj, *keys, default=None):
    for k in keys:
        if isinstance(obj, dict) and k in obj:
            obj = obj[k]
        elif isinstance(obj, list) and isinstance(k, int) and -len(obj) <= k < len(obj):
            obj = obj[k]
        else:
            return default
    return obj


def env_of(container: dict, configmap: dict) -> dict:
    """The environment the container gets: ConfigMap (envFrom) overridden by env."""
    env = {}
    for src in container.get("envFrom", []) or []:
        if dig(src, "configMapRef", "name") == dig(configmap, "metadata", "name"):
            env.update({k: str(v) for k, v in (configmap.get("data") or {}).items()})
    for item in container.get("env", []) or []:
        if "value" in item:
            env[item["name"]] = str(item["value"])
    return env


def resolve_port(port, ports: dict):
    return ports.get(port) if isinstance(port, str) else port


def check_security(where: str, pod_spec: dict, container: dict) -> None:
    psc = pod_spec.get("securityContext") or {}
    csc = container.get("securityContext") or {}

    def eff(key):
        return csc.get(key, psc.get(key))

    check(eff("runAsNonRoot") is True and psc.get("runAsNonRoot", True) is True,
          f"{where}: runAsNonRoot must be true (pod and container securityContext)")
    check(eff("runAsUser") == RUN_AS_USER, f"{where}: runAsUser must be {RUN_AS_USER} (the image's USER)")
    check(csc.get("readOnlyRootFilesystem") is True, f"{where}: readOnlyRootFilesystem must be true")
    check(csc.get("allowPrivilegeEscalation") is False, f"{where}: allowPrivilegeEscalation must be false")
    check("ALL" in (dig(csc, "capabilities", "drop") or []), f"{where}: capabilities.drop must contain ALL")
    check(
        dig(csc, "seccompProfile", "type", default=dig(psc, "seccompProfile", "type")) == "RuntimeDefault",
        f"{where}: seccompProfile must be RuntimeDefault",
    )


def known_settings() -> dict | None:
    """section -> set of keys, from config/default.toml (the loader types env values by it)."""
    if tomllib is None or not DEFAULT_TOML.is_file():
        return None
    table = tomllib.loads(DEFAULT_TOML.read_text())
    known = {s: set(v) for s, v in table.items() if isinstance(v, dict)}
    known["secrets"] = set(SECRET_KEYS)
    return known


def config_value(environment: str, section: str, key: str):
    """config/{environment}.toml over config/default.toml, as the app layers them."""
    if tomllib is None:
        return None
    value = None
    for name in ("default.toml", f"{environment}.toml"):
        path = ROOT / "config" / name
        if path.is_file():
            value = tomllib.loads(path.read_text()).get(section, {}).get(key, value)
    return value


def setting(env: dict, section: str, key: str):
    """What the app will use: JIT_SSO__SECTION__KEY, else the config files."""
    var = f"JIT_SSO__{section.upper()}__{key.upper()}"
    if var in env:
        return env[var]
    return config_value(env.get("JIT_SSO_ENV", "development"), section, key)


def setting_int(env: dict, section: str, key: str):
    value = setting(env, section, key)
    try:
        return int(value)
    except (TypeError, ValueError):
        check(False, f"deployment: {section}.{key} is not a number (or not set anywhere): {value!r}")
        return None


def check_env_keys(where: str, names) -> None:
    known = known_settings()
    if known is None:
        print(f"  note: {DEFAULT_TOML.relative_to(ROOT)} or tomllib unavailable; env key names not checked")
        return
    for name in sorted(names):
        if not name.startswith("JIT_SSO__"):
            continue
        parts = name[len("JIT_SSO__"):].lower().split("__")
        if not check(len(parts) == 2 and all(parts), f"{where}: {name} is not JIT_SSO__SECTION__KEY"):
            continue
        section, key = parts
        check(
            key in known.get(section, set()),
            f"{where}: {name} sets {section}.{key}, which config/default.toml does not define: "
            f"the app refuses unknown settings (and types env values by the default), so it "
            f"would not start; add [{section}] {key} = ... to config/default.toml or drop the key",
        )


def main() -> int:
    configmap = one("configmap.yaml", "ConfigMap")
    deploy = one("deployment.yaml", "Deployment")
    service = one("service.yaml", "Service")
    job = one("migrate-job.yaml", "Job")
    pdb = one("pdb.yaml", "PodDisruptionBudget")
    hpa = one("hpa.yaml", "HorizontalPodAutoscaler")
    secret = one("secret.example.yaml", "Secret")
    kustomization = one("kustomization.yaml", "Kustomization")

    # --- the app really serves the probe paths -------------------------------------------
    if check(HEALTH_RS.is_file(), f"{HEALTH_RS.relative_to(ROOT)} is missing"):
        rs = HEALTH_RS.read_text()
        for route in ("/healthz", "/readyz"):
            check(f'"{route}"' in rs, f'src/routes/health.rs does not declare the route "{route}"')

    # --- Deployment: container, ports, probes ---------------------------------------------
    pod = dig(deploy, "spec", "template", "spec", default={}) or {}
    containers = pod.get("containers") or []
    check(len(containers) == 1, f"deployment.yaml: expected one container, found {len(containers)}")
    c = containers[0] if containers else {}
    ports = {p.get("name"): p.get("containerPort") for p in c.get("ports") or []}
    check(ports.get("http") == HTTP_PORT, f"deployment.yaml: container port 'http' must be {HTTP_PORT}, is {ports.get('http')}")
    check(ports.get("metrics") == METRICS_PORT, f"deployment.yaml: container port 'metrics' must be {METRICS_PORT}, is {ports.get('metrics')}")

    expected = {"livenessProbe": "/healthz", "readinessProbe": "/readyz", "startupProbe": "/readyz"}
    for probe, path in expected.items():
        get = dig(c, probe, "httpGet")
        if not check(isinstance(get, dict), f"deployment.yaml: {probe} must be an httpGet probe"):
            continue
        check(get.get("path") == path, f"deployment.yaml: {probe} path must be exactly {path}, is {get.get('path')!r}")
        port = resolve_port(get.get("port"), ports)
        check(port == HTTP_PORT, f"deployment.yaml: {probe} port {get.get('port')!r} must be the http port {HTTP_PORT}")
    check(c.get("args") in (None, ["serve"]), f"deployment.yaml: args must be [serve], are {c.get('args')}")

    # --- Deployment: environment -----------------------------------------------------------
    env = env_of(c, configmap)
    check(env.get("JIT_SSO_ENV") == "production", "deployment: JIT_SSO_ENV must be production")
    http_port = setting_int(env, "http", "port")
    check(http_port == ports.get("http"),
          f"deployment: the app listens on http.port {http_port} (JIT_SSO__HTTP__PORT or config), "
          f"the container port 'http' is {ports.get('http')}")
    metrics_port = setting_int(env, "metrics", "port")
    check(metrics_port == ports.get("metrics"),
          f"deployment: the app serves metrics on metrics.port {metrics_port} (JIT_SSO__METRICS__PORT or "
          f"config), the container port 'metrics' is {ports.get('metrics')}")
    check(env.get("JIT_SSO__DATABASE__MIGRATE_ON_START") == "false",
          "deployment: JIT_SSO__DATABASE__MIGRATE_ON_START must be false (migrate-job.yaml migrates)")
    public_url = env.get("JIT_SSO__HTTP__PUBLIC_URL", "")
    check(public_url.startswith("https://"), f"deployment: JIT_SSO__HTTP__PUBLIC_URL must be https (Secure cookies), is {public_url!r}")
    check(any(dig(s, "secretRef", "name") == dig(secret, "metadata", "name") for s in c.get("envFrom") or []),
          "deployment.yaml: envFrom must include the Secret")
    check_env_keys("deployment", env.keys())
    check_env_keys("secret.example.yaml", (secret.get("stringData") or {}).keys())

    # --- graceful shutdown ---------------------------------------------------------------
    # SIGTERM -> [preStop, if any, runs first] -> /readyz 503 while still serving for
    # http.drain_secs -> listener closed, requests in flight get http.shutdown_grace_secs.
    check("JIT_SSO__HTTP__SHUTDOWN_GRACE_SECS" in env,
          "deployment.yaml: set JIT_SSO__HTTP__SHUTDOWN_GRACE_SECS explicitly")
    grace = setting_int(env, "http", "shutdown_grace_secs")
    drain = setting_int(env, "http", "drain_secs")
    pre_stop = dig(c, "lifecycle", "preStop") or {}
    sleep = 0
    if "sleep" in pre_stop:
        sleep = int(dig(pre_stop, "sleep", "seconds", default=0))
    elif "exec" in pre_stop:
        cmd = dig(pre_stop, "exec", "command", default=[])
        m = len(cmd) == 2 and re.fullmatch(r"(/usr)?/bin/sleep", cmd[0]) and re.fullmatch(r"\d+", str(cmd[1]))
        if check(bool(m), f"deployment.yaml: preStop exec must be [/bin/sleep, N], is {cmd}"):
            sleep = int(cmd[1])
    elif pre_stop:
        check(False, f"deployment.yaml: unexpected preStop {pre_stop}")
    tgps = pod.get("terminationGracePeriodSeconds", 30)
    if grace is not None and drain is not None:
        check(tgps > sleep + drain + grace,
              f"deployment.yaml: terminationGracePeriodSeconds ({tgps}) must exceed preStop sleep ({sleep}) "
              f"+ http.drain_secs ({drain}) + JIT_SSO__HTTP__SHUTDOWN_GRACE_SECS ({grace})")
    metrics_on = setting(env, "metrics", "enabled")
    check(metrics_on in (None, True) or str(metrics_on).lower() in ("true", "1", "yes", "on"),
          "deployment: metrics are disabled but a metrics port is declared")

    check_security("deployment.yaml", pod, c)
    check(pod.get("enableServiceLinks") is False,
          "deployment.yaml: enableServiceLinks must be false (the app reads JIT_SSO__* variables as settings)")

    # --- Service ---------------------------------------------------------------------------
    pod_labels = dig(deploy, "spec", "template", "metadata", "labels", default={}) or {}
    selector = dig(service, "spec", "selector", default={}) or {}
    check(dig(service, "spec", "type", default="ClusterIP") == "ClusterIP", "service.yaml: type must be ClusterIP")
    check(bool(selector) and all(pod_labels.get(k) == v for k, v in selector.items()),
          f"service.yaml: selector {selector} does not select the Deployment's pods {pod_labels}")
    job_labels = dig(job, "spec", "template", "metadata", "labels", default={}) or {}
    check(not (selector and all(job_labels.get(k) == v for k, v in selector.items())),
          "service.yaml: selector also selects the migrate Job's pod")
    svc_ports = dig(service, "spec", "ports", default=[]) or []
    check(len(svc_ports) == 1, f"service.yaml: expected one port (http only; metrics is not public), found {len(svc_ports)}")
    for p in svc_ports:
        check(p.get("name") == "http", f"service.yaml: port name must be http, is {p.get('name')!r}")
        check(resolve_port(p.get("targetPort"), ports) == HTTP_PORT,
              f"service.yaml: targetPort {p.get('targetPort')!r} must be the container's http port")
    dsel = dig(deploy, "spec", "selector", "matchLabels", default={}) or {}
    check(dsel and all(pod_labels.get(k) == v for k, v in dsel.items()),
          "deployment.yaml: spec.selector does not match the pod template labels")
    check(not all(job_labels.get(k) == v for k, v in dsel.items()),
          "deployment.yaml: spec.selector also matches the migrate Job's pod")

    # --- migrate Job -------------------------------------------------------------------------
    jpod = dig(job, "spec", "template", "spec", default={}) or {}
    jc = (jpod.get("containers") or [{}])[0]
    check(jc.get("args") == ["migrate"], f"migrate-job.yaml: args must be [migrate], are {jc.get('args')}")
    check(jc.get("image") == c.get("image"), "migrate-job.yaml: image must be the Deployment's image")
    check(jc.get("envFrom") == c.get("envFrom"), "migrate-job.yaml: envFrom must equal the Deployment's")
    check(jpod.get("restartPolicy") in ("Never", "OnFailure"), "migrate-job.yaml: restartPolicy must be Never or OnFailure")
    check_security("migrate-job.yaml", jpod, jc)

    # --- PDB, HPA ------------------------------------------------------------------------------
    psel = dig(pdb, "spec", "selector", "matchLabels", default={}) or {}
    check(psel and all(pod_labels.get(k) == v for k, v in psel.items()), "pdb.yaml: selector does not match the Deployment's pods")
    check(not all(job_labels.get(k) == v for k, v in psel.items()), "pdb.yaml: selector also matches the migrate Job's pod")
    check(dig(pdb, "spec", "maxUnavailable") == 1 or dig(pdb, "spec", "minAvailable") == 2,
          "pdb.yaml: want maxUnavailable 1 or minAvailable 2")
    check(dig(deploy, "spec", "replicas") == 3, "deployment.yaml: replicas must be 3")
    check(dig(hpa, "apiVersion") == "autoscaling/v2", "hpa.yaml: apiVersion must be autoscaling/v2")
    check(dig(hpa, "spec", "scaleTargetRef", "name") == dig(deploy, "metadata", "name")
          and dig(hpa, "spec", "scaleTargetRef", "kind") == "Deployment", "hpa.yaml: must target the Deployment")
    check((dig(hpa, "spec", "minReplicas"), dig(hpa, "spec", "maxReplicas")) == (3, 10), "hpa.yaml: min 3, max 10")
    cpu = [m for m in dig(hpa, "spec", "metrics", default=[]) or [] if dig(m, "resource", "name") == "cpu"]
    check(len(cpu) == 1 and dig(cpu[0], "resource", "target", "averageUtilization") == 70, "hpa.yaml: CPU target must be 70%")
    check(bool(dig(c, "resources", "requests", "cpu")), "deployment.yaml: a CPU request is needed for the HPA")

    # --- labels ---------------------------------------------------------------------------------
    for name, obj in [("configmap.yaml", configmap), ("deployment.yaml", deploy), ("service.yaml", service),
                      ("migrate-job.yaml", job), ("pdb.yaml", pdb), ("hpa.yaml", hpa), ("secret.example.yaml", secret)]:
        check(dig(obj, "metadata", "labels", "app.kubernetes.io/name") == "jit-sso",
              f"{name}: label app.kubernetes.io/name must be jit-sso")

    # --- Secret template: placeholders only -------------------------------------------------
    check(not secret.get("data"), "secret.example.yaml: use stringData placeholders, not data")
    for k, v in (secret.get("stringData") or {}).items():
        check("REPLACE_ME" in str(v), f"secret.example.yaml: {k} must be a REPLACE_ME placeholder, never a real value")
    for k in ("JIT_SSO__SECRETS__SESSION_KEY", "JIT_SSO__SECRETS__DATA_KEY", "JIT_SSO__DATABASE__URL"):
        check(k in (secret.get("stringData") or {}), f"secret.example.yaml: {k} is missing")

    # --- kustomization --------------------------------------------------------------------------
    resources = kustomization.get("resources") or []
    for f in ("configmap.yaml", "deployment.yaml", "service.yaml", "migrate-job.yaml", "pdb.yaml", "hpa.yaml"):
        check(f in resources, f"kustomization.yaml: resources must list {f}")
    check("secret.example.yaml" not in resources,
          "kustomization.yaml: must not list secret.example.yaml (it would overwrite the real Secret)")
    images = [i for i in kustomization.get("images") or [] if i.get("name") == "jit-sso"]
    check(len(images) == 1 and c.get("image") == "jit-sso",
          "kustomization.yaml: needs an images entry named jit-sso, and the Deployment must use image jit-sso")

    # --- the Dockerfile agrees ----------------------------------------------------------------
    dockerfile = ROOT / "Dockerfile"
    if dockerfile.is_file():
        text = dockerfile.read_text()
        check(re.search(rf"^USER {RUN_AS_USER}\b", text, re.M) is not None, f"Dockerfile: USER is not {RUN_AS_USER}")
        check(re.search(r'^ENTRYPOINT \["/usr/local/bin/jit-sso"\]', text, re.M) is not None,
              "Dockerfile: ENTRYPOINT is not /usr/local/bin/jit-sso (args serve/migrate rely on it)")

    if failures:
        print(f"check_probes: {len(failures)} check(s) FAILED ({passed} passed):", file=sys.stderr)
        for f in failures:
            print(f"  FAIL {f}", file=sys.stderr)
        return 1
    print(f"check_probes: all {passed} checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
