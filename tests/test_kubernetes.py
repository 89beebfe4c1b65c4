"""O05: the Kubernetes manifests of every variant validate offline, and pods run non-root on a read-only root.

deploy/kubernetes/ is Kustomize: the service's kustomization, and for server databases migrate/, both taking
common/ (a Component: namespace, image, labels, settings, account, network policy). `build` below does what
`kubectl kustomize` does for the features used there; where kubectl is installed the two are compared. Every object
is validated against the Kubernetes OpenAPI schemas that kubernetes-validate ships, in strict mode (an unknown or
misspelt field fails), for the oldest and newest versions pinned here. The last test runs the app itself the way
such a pod does: every mount read-only, a tmpfs on /tmp and on the data directory.
"""

import ast
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import pytest
import yaml
from services import unavailable
from variants import VARIANTS

# The oldest Kubernetes minor these manifests claim, and the newest kubernetes-validate ships schemas for.
KUBERNETES_VERSIONS = ("1.31.0", "1.37.0")
APP_UID = 10001
APP_PORT = 8000
CLUSTER_SCOPED = frozenset({"Namespace"})
# The flags the Dockerfile's CMD starts uvicorn with, which the pod must keep (README.md of a project says why).
ESSENTIAL_FLAGS = ("--no-server-header", "--no-proxy-headers", "--log-config")
SERVER_DATABASE_PORTS = {"postgresql": 5432, "mysql": 3306}
SECRET_BACKEND_PORTS = {"vault": 8200, "aws": 443}
PASSWORD = "a long and uncommon passphrase 7"
TMP = "/tmp"  # noqa: S108  (the pods' emptyDir, and the read-only run's fresh tmpfs)

Manifest = dict[str, Any]


# --- Kustomize, offline ---


def _documents(path: Path) -> list[Manifest]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def _kustomization(directory: Path) -> Manifest:
    loaded: Manifest = yaml.safe_load((directory / "kustomization.yaml").read_text())
    return loaded


def build(directory: Path) -> list[Manifest]:
    """`kustomize build` for what these manifests use: resources, components, namespace, images and labels."""
    own = _kustomization(directory)
    layers = [(directory, own)] + [
        ((directory / name).resolve(), _kustomization(directory / name)) for name in own.get("components", [])
    ]
    objects: list[Manifest] = []
    for base, layer in layers:
        for entry in layer.get("resources", []):
            path = base / entry
            objects += build(path) if path.is_dir() else _documents(path)
    for _, layer in layers:
        _set_namespace(objects, layer.get("namespace"))
        _set_images(objects, layer.get("images", []))
        _set_labels(objects, layer.get("labels", []))
    return objects


def _pod_spec(manifest: Manifest) -> Manifest | None:
    template = manifest.get("spec", {}).get("template")
    return template["spec"] if isinstance(template, dict) else None


def _containers(manifest: Manifest) -> list[Manifest]:
    spec = _pod_spec(manifest) or {}
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def _image_name(image: str) -> str:
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return name[: len(name) - len(last)] + last.split(":", 1)[0]


def _set_namespace(objects: list[Manifest], namespace: str | None) -> None:
    if namespace:
        for manifest in objects:
            if manifest["kind"] not in CLUSTER_SCOPED:
                manifest["metadata"]["namespace"] = namespace


def _set_images(objects: list[Manifest], images: list[Manifest]) -> None:
    for entry in images:
        for manifest in objects:
            for container in _containers(manifest):
                if _image_name(container["image"]) != entry["name"]:
                    continue
                name = entry.get("newName", entry["name"])
                if "digest" in entry:
                    container["image"] = f"{name}@{entry['digest']}"
                elif "newTag" in entry:
                    container["image"] = f"{name}:{entry['newTag']}"
                else:
                    container["image"] = name + container["image"][len(_image_name(container["image"])) :]


def _set_labels(objects: list[Manifest], labels: list[Manifest]) -> None:
    for entry in labels:
        assert not entry.get("includeSelectors"), "selectors are written in each manifest, never by a transformer"
        for manifest in objects:
            manifest["metadata"].setdefault("labels", {}).update(entry["pairs"])
            template = manifest.get("spec", {}).get("template")
            if entry.get("includeTemplates") and isinstance(template, dict):
                template.setdefault("metadata", {}).setdefault("labels", {}).update(entry["pairs"])


# --- one variant's project ---


class Project:
    """A rendered variant: its answers, its built manifests, and what the rest of the project says about them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.answers: Manifest = yaml.safe_load((root / ".copier-answers.yml").read_text())
        self.kubernetes = root / "deploy" / "kubernetes"
        self.service = build(self.kubernetes)
        migrate = self.kubernetes / "migrate"
        self.migration = build(migrate) if migrate.is_dir() else []

    @property
    def slug(self) -> str:
        return str(self.answers["project_slug"])

    @property
    def server_database(self) -> bool:
        return self.answers["database"] != "sqlite"

    @property
    def image(self) -> str:
        (entry,) = _kustomization(self.kubernetes / "common")["images"]
        assert entry["name"] == self.slug
        return f"{entry['newName']}:{entry['newTag']}"

    def one(self, kind: str, objects: list[Manifest] | None = None) -> Manifest:
        found = [manifest for manifest in (self.service if objects is None else objects) if manifest["kind"] == kind]
        assert len(found) == 1, f"{kind}: {len(found)} objects"
        return found[0]

    def dockerfile_command(self) -> list[str] | None:
        dockerfile = self.root / "Dockerfile"
        if not dockerfile.exists():
            return None
        (line,) = [line for line in dockerfile.read_text().splitlines() if line.startswith("CMD [")]
        command: list[str] = json.loads(line.removeprefix("CMD "))
        return command

    def dockerfile_user(self) -> str | None:
        dockerfile = self.root / "Dockerfile"
        if not dockerfile.exists():
            return None
        (line,) = [line for line in dockerfile.read_text().splitlines() if line.startswith("USER ")]
        return line.removeprefix("USER ").strip()

    def health_paths(self) -> tuple[str, ...]:
        source = (self.root / "src" / self.answers["package_name"] / "api" / "routes" / "health.py").read_text()
        for node in ast.parse(source).body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "PATHS" for t in node.targets):
                paths: tuple[str, ...] = ast.literal_eval(node.value)
                return paths
        raise AssertionError("health.py defines no PATHS")

    def setting_names(self) -> set[str]:
        """Every field of the settings modules, as the environment variable that sets it."""
        settings = self.root / "src" / self.answers["package_name"] / "settings"
        names = set()
        for module in settings.glob("*.py"):
            for node in ast.walk(ast.parse(module.read_text())):
                if isinstance(node, ast.ClassDef):
                    names |= {
                        item.target.id.upper()
                        for item in node.body
                        if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
                    }
        return names


@pytest.fixture(scope="module")
def project(rendered: Callable[[str], Path]) -> Callable[[str], Project]:
    cache: dict[str, Project] = {}

    def get(variant: str) -> Project:
        if variant not in cache:
            cache[variant] = Project(rendered(variant))
        return cache[variant]

    return get


# --- the manifests of every variant ---


@pytest.mark.parametrize("variant", VARIANTS)
def test_o05_manifests_validate_offline_in_strict_mode(project: Callable[[str], Project], variant: str) -> None:
    built = project(variant)
    objects = built.service + built.migration
    assert {manifest["kind"] for manifest in built.service} >= {
        "Namespace",
        "ServiceAccount",
        "ConfigMap",
        "Deployment",
        "Service",
        "NetworkPolicy",
        "PodDisruptionBudget",
    }
    for manifest in objects:
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(manifest, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{manifest['kind']}/{manifest['metadata']['name']} on {version}: {exc.message}")
    # Secrets come from the backend, created beside these files: never one in them.
    assert "Secret" not in {manifest["kind"] for manifest in objects}


def test_o05_strict_validation_refuses_a_misspelt_field(project: Callable[[str], Project]) -> None:
    deployment = project("default").one("Deployment")
    broken = json.loads(json.dumps(deployment))
    container = broken["spec"]["template"]["spec"]["containers"][0]
    container["securityContxt"] = container.pop("securityContext")
    with pytest.raises(kubernetes_validate.ValidationError, match="securityContxt"):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=True)


def _assert_locked_down(built: Project, manifest: Manifest) -> None:
    """The pod security of the "restricted" profile, the image's own user, and limits on every container."""
    name = f"{manifest['kind']}/{manifest['metadata']['name']}"
    spec = _pod_spec(manifest)
    assert spec is not None, name
    pod = spec["securityContext"]
    assert pod["runAsNonRoot"] is True, name
    assert (pod["runAsUser"], pod["runAsGroup"]) == (APP_UID, APP_UID), name
    if built.dockerfile_user() is not None:
        assert built.dockerfile_user() == f"{pod['runAsUser']}:{pod['runAsGroup']}", name
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, name
    assert spec["automountServiceAccountToken"] is False, name
    assert spec["serviceAccountName"] == built.slug, name
    assert "hostNetwork" not in spec
    assert "hostPID" not in spec
    tmp_volumes = {volume["name"] for volume in spec["volumes"] if "emptyDir" in volume}
    for container in _containers(manifest):
        where = f"{name} container {container['name']}"
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True, where
        assert context["allowPrivilegeEscalation"] is False, where
        assert context.get("privileged", False) is False, where
        assert context["capabilities"] == {"drop": ["ALL"]}, where
        assert context.get("runAsUser", APP_UID) == APP_UID, where
        resources = container["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"]), where
        assert {"cpu", "memory"} <= set(resources["limits"]), where
        assert container["image"] == built.image, where
        mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
        assert mounts.get(TMP) in tmp_volumes, f"{where}: /tmp must be an emptyDir on a read-only root"


@pytest.mark.parametrize("variant", VARIANTS)
def test_o05_pods_run_non_root_read_only_without_capabilities(project: Callable[[str], Project], variant: str) -> None:
    built = project(variant)
    _assert_locked_down(built, built.one("Deployment"))
    account = built.one("ServiceAccount")
    assert account["automountServiceAccountToken"] is False
    namespace = built.one("Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    if built.server_database:
        job = built.one("Job", built.migration)
        _assert_locked_down(built, job)
        assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_o05_the_lock_down_check_can_fail(project: Callable[[str], Project]) -> None:
    built = project("default")
    writable = json.loads(json.dumps(built.one("Deployment")))
    writable["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = False
    with pytest.raises(AssertionError, match=r"container app"):
        _assert_locked_down(built, writable)


@pytest.mark.parametrize("variant", VARIANTS)
def test_o05_app_container_starts_like_the_image_and_probes_health(
    project: Callable[[str], Project], variant: str
) -> None:
    built = project(variant)
    deployment = built.one("Deployment")
    (app,) = deployment["spec"]["template"]["spec"]["containers"]
    command = app["command"]
    dockerfile = built.dockerfile_command()
    if dockerfile is not None:
        assert command == dockerfile, "the pod starts uvicorn exactly as the image's CMD does"
    assert command[:2] == ["uvicorn", f"{built.answers['package_name']}.main:app"]
    assert all(flag in command for flag in ESSENTIAL_FLAGS)
    assert command[command.index("--port") + 1] == str(APP_PORT)
    assert app["ports"] == [{"name": "http", "containerPort": APP_PORT, "protocol": "TCP"}]

    live, ready = built.health_paths()
    assert app["livenessProbe"]["httpGet"] == {"path": live, "port": "http"}
    assert app["readinessProbe"]["httpGet"] == {"path": ready, "port": "http"}
    assert app["startupProbe"]["httpGet"]["path"] == live

    service = built.one("Service")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()


@pytest.mark.parametrize("variant", VARIANTS)
def test_o05_replicas_follow_the_shared_state(project: Callable[[str], Project], variant: str) -> None:
    """Several replicas only on a server database with the Redis store; one, replaced, otherwise (deploy.E008)."""
    built = project(variant)
    spec = built.one("Deployment")["spec"]
    budget = built.one("PodDisruptionBudget")["spec"]
    assert budget["selector"]["matchLabels"] == spec["selector"]["matchLabels"]
    if built.server_database and built.answers["rate_limit_store"] == "redis":
        assert spec["replicas"] >= 2
        assert spec["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
        assert 1 <= budget["minAvailable"] < spec["replicas"]
        assert spec["template"]["spec"]["topologySpreadConstraints"]
    else:
        assert spec["replicas"] == 1
        assert spec["strategy"] == {"type": "Recreate"}
        assert budget.get("maxUnavailable") == 1, "a one-replica budget must not block node drains"
        assert "minAvailable" not in budget


@pytest.mark.parametrize("variant", VARIANTS)
def test_o05_schema_migrates_before_the_service(project: Callable[[str], Project], variant: str) -> None:
    built = project(variant)
    pod = built.one("Deployment")["spec"]["template"]["spec"]
    config = built.one("ConfigMap")["data"]
    if built.server_database:
        assert "initContainers" not in pod, "several replicas would race: the Job migrates"
        (container,) = built.one("Job", built.migration)["spec"]["template"]["spec"]["containers"]
        assert container["command"] == ["alembic", "upgrade", "heads"]
        (owner,) = container["env"]
        assert owner["name"] == "MIGRATIONS_DATABASE_URL"
        assert owner["valueFrom"]["secretKeyRef"] == {
            "name": f"{built.slug}-migrations",
            "key": "MIGRATIONS_DATABASE_URL",
        }
        assert f"{built.slug}-migrations" not in json.dumps(built.service), "the service never holds the owner role"
    else:
        (init,) = pod["initContainers"]
        assert init["command"] == ["alembic", "upgrade", "heads"]
        assert config["DATABASE_URL"].startswith("sqlite+aiosqlite:////data/")
        claim = built.one("PersistentVolumeClaim")["metadata"]["name"]
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        for container in [init, *pod["containers"]]:
            (data,) = [mount for mount in container["volumeMounts"] if mount["mountPath"] == "/data"]
            assert volumes[data["name"]]["persistentVolumeClaim"]["claimName"] == claim


@pytest.mark.parametrize("variant", VARIANTS)
def test_o05_secrets_come_from_the_chosen_backend(project: Callable[[str], Project], variant: str) -> None:
    built = project(variant)
    backend = built.answers["secret_backend"]
    config = built.one("ConfigMap")
    assert config["data"]["APP_ENV"] == "production"
    unknown = set(config["data"]) - built.setting_names() - {"WEB_CONCURRENCY"}
    assert not unknown, f"the ConfigMap sets what the app never reads: {sorted(unknown)}"
    pods = [built.one("Deployment")] + ([built.one("Job", built.migration)] if built.server_database else [])
    secret = f"{built.slug}-secrets"
    for manifest in pods:
        spec = manifest["spec"]["template"]["spec"]
        for container in _containers(manifest):
            sources = container["envFrom"]
            assert sources[0] == {"configMapRef": {"name": config["metadata"]["name"]}}
            refs = [source["secretRef"]["name"] for source in sources if "secretRef" in source]
            assert refs == ([secret] if backend in {"env", "vault"} else [])
            mounted = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
            if backend == "file":
                directory = config["data"]["SECRETS_DIR"]
                assert mounted[directory]["readOnly"] is True
                (volume,) = [volume for volume in spec["volumes"] if volume["name"] == mounted[directory]["name"]]
                assert volume["secret"]["secretName"] == secret
                assert volume["secret"]["defaultMode"] & 0o007 == 0, "no secret file readable by every user (E018)"
            else:
                assert "/run/secrets" not in mounted
    annotations = built.one("ServiceAccount")["metadata"].get("annotations", {})
    assert ("eks.amazonaws.com/role-arn" in annotations) == (backend == "aws")
    if backend == "vault":
        assert config["data"]["VAULT_ADDR"].startswith("https://")
    if backend == "aws":
        assert config["data"]["AWS_SECRET_ID"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_o05_network_policy_admits_the_proxy_and_prometheus_only(
    project: Callable[[str], Project], variant: str
) -> None:
    built = project(variant)
    policy = built.one("NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    selector = policy["podSelector"]["matchLabels"]
    for manifest in [built.one("Deployment"), *built.migration]:
        if manifest["kind"] in {"Deployment", "Job"}:
            assert selector.items() <= manifest["spec"]["template"]["metadata"]["labels"].items()
    sources = []
    for rule in policy["ingress"]:
        assert rule["ports"] == [{"protocol": "TCP", "port": APP_PORT}]
        (peer,) = rule["from"]
        sources.append(peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"])
    assert sources == ["ingress-nginx", "monitoring"]
    config = built.one("ConfigMap")["data"]
    assert config["METRICS_ALLOWED_NETWORKS"] and config["TRUSTED_PROXIES"]

    egress_ports = {port["port"] for rule in policy["egress"] for port in rule["ports"]}
    expected = {53}
    expected |= {SERVER_DATABASE_PORTS[built.answers["database"]]} if built.server_database else set()
    expected |= {6379, 6380} if built.answers["rate_limit_store"] == "redis" else set()
    if built.answers["secret_backend"] in SECRET_BACKEND_PORTS:
        expected.add(SECRET_BACKEND_PORTS[built.answers["secret_backend"]])
    assert egress_ports == expected
    for rule in policy["egress"]:
        assert rule["to"], "every egress rule names where it goes"


@pytest.mark.parametrize("variant", VARIANTS)
def test_o05_build_matches_kubectl_kustomize(project: Callable[[str], Project], variant: str) -> None:
    """The offline build above is what `kubectl kustomize` gives, so the other tests check the real output."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the build is checked offline only")
    built = project(variant)
    for directory, objects in [(built.kubernetes, built.service), (built.kubernetes / "migrate", built.migration)]:
        if not directory.is_dir():
            continue
        output = subprocess.run(
            [kubectl, "kustomize", str(directory)], capture_output=True, text=True, check=True, timeout=60
        ).stdout
        assert _keyed([document for document in yaml.safe_load_all(output) if document]) == _keyed(objects)


def _keyed(manifests: list[Manifest]) -> dict[tuple[str, str], Manifest]:
    return {(manifest["kind"], manifest["metadata"]["name"]): manifest for manifest in manifests}


# --- the app on a read-only root ---


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _require_mount_namespaces() -> None:
    unshare = shutil.which("unshare")
    if os.geteuid() != 0 or unshare is None:
        unavailable("the read-only run needs root and unshare(1) for a private mount namespace")
    probe = subprocess.run([str(unshare), "--mount", "true"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        unavailable(f"unshare --mount is not permitted here: {probe.stderr.strip()}")


def test_o05_app_runs_on_a_read_only_root(project: Callable[[str], Project], tmp_path: Path) -> None:
    """The default project, started by its pod's command in a mount namespace where every mount is read-only but a
    fresh tmpfs on /tmp and one on the data directory: the root refuses a new file (EROFS) before uvicorn starts,
    then readiness, register, login and /users/me work, the database is in the tmpfs, and nothing hit EROFS."""
    _require_mount_namespaces()
    built = project("default")
    package = built.answers["package_name"]
    data = Path("/tmp/readonly-data")  # noqa: S108  (a tmpfs of the namespace alone, over its fresh /tmp)
    port = _free_port()
    (app,) = built.one("Deployment")["spec"]["template"]["spec"]["containers"]
    command = [sys.executable, "-m", *app["command"]]
    command[command.index("--host") + 1] = "127.0.0.1"
    command[command.index("--port") + 1] = str(port)
    env = {
        **os.environ,
        "PYTHONPATH": str(built.root / "src"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "APP_ENV": "production",
        "DOCS_ENABLED": "false",
        "DATABASE_URL": f"sqlite+aiosqlite:///{data}/{package}.db",
        "SECRET_KEY": os.urandom(32).hex(),
        # It logs in right after registering: what is proved here is the read-only filesystem, not the mail.
        "EMAIL_VERIFICATION_REQUIRED": "false",
    }
    launcher = [sys.executable, str(Path(__file__).with_name("readonly_launcher.py")), str(built.root), str(data)]
    process = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "--", *launcher, *command],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    try:
        first = process.stdout.readline()
        try:
            writes = json.loads(first)
        except ValueError:
            process.kill()
            pytest.fail("the launcher failed before the app started: " + first + process.stdout.read())
        for place in ["/", str(built.root), str(built.root / "src"), sys.prefix]:
            assert writes[place] == "EROFS", f"{place} must be read-only: {writes}"
        assert writes[TMP] == "written"
        assert writes[str(data)] == "written"

        base = f"http://127.0.0.1:{port}"
        _wait_until_live(base, process)
        assert httpx.get(f"{base}/health/ready", timeout=10).status_code == 200
        with httpx.Client(base_url=f"{base}/api/v1", timeout=30) as http:
            created = http.post("/auth/register", json={"email": "readonly@example.com", "password": PASSWORD})
            assert created.status_code == 201, created.text
            login = http.post("/auth/login", data={"username": "readonly@example.com", "password": PASSWORD})
            assert login.status_code == 200, login.text
            me = http.get("/users/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"})
            assert me.status_code == 200, me.text
            assert me.json()["email"] == "readonly@example.com"
        # The database is in the namespace's own tmpfs: seen through the process's root, absent from the host's.
        database = f"{str(data).lstrip('/')}/{package}.db"
        assert (Path(f"/proc/{process.pid}/root") / database).is_file()
        assert not (Path("/") / database).exists()
        assert process.poll() is None, "the app must still be serving"
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=15)
    assert not re.search(r"read-only file system|EROFS|errno 30", output, re.IGNORECASE), output


def _wait_until_live(base: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{base}/health/live", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    pytest.fail("uvicorn did not start on a read-only root: " + (process.stdout.read() if process.stdout else ""))
