"""The production shape: settings pass `check --deploy`, docker-compose matches the real entry points."""

import os
import subprocess
import sys
from pathlib import Path

import yaml

from ketlogistic import devstack

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "ketlogistic.settings.production",
    "SECRET_KEY": "k3$Vq9!mZ2@xL7#pR4%tW8^yB1&nC6*dF0(gH5)jK-uM_eN=sQ+aT",
    "FIELD_ENCRYPTION_KEYS": "dGVzdC1rZXktbmV3ZXN0LTAwMDAwMDAwMDAwMDAwMDA=",
    "BLIND_INDEX_KEY": "deploy-check-blind-index-key",
    "ALLOWED_HOSTS": "ketlogistic.example.kz",
}


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def _production_env() -> dict:
    # The browser tests allow Django's async-unsafe mode in this process; a deployment never does.
    return {k: v for k, v in {**os.environ, **PRODUCTION_ENV}.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}


def test_production_settings_pass_check_deploy_without_warnings():
    env = _production_env()
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_secrets():
    env = {**_production_env(), "FIELD_ENCRYPTION_KEYS": ""}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )

    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS is required" in result.stderr


def test_compose_has_every_service_with_a_healthcheck():
    services = _compose()["services"]

    assert {"postgres", "redis", "web", "worker-fast", "worker-slow", "beat"} <= set(services)
    for name in ("postgres", "redis", "web", "worker-fast", "worker-slow", "beat"):
        assert "healthcheck" in services[name], name
    assert set(_compose()["volumes"]) >= {"pgdata", "redisdata", "media"}
    assert services["web"]["environment"]["DJANGO_SETTINGS_MODULE"] == "ketlogistic.settings.production"


def test_compose_commands_are_the_ones_make_run_starts():
    services = _compose()["services"]
    local = devstack.process_commands(bind="127.0.0.1:8000", web_workers="2", schedule="/tmp/schedule")

    for name in ("web", "worker-fast", "worker-slow", "beat"):
        compose_command = services[name]["command"]
        program, target = local[name][0], local[name][1:4] if name != "web" else local[name][1:2]
        assert compose_command[0] == program, name
        assert compose_command[1 : 1 + len(target)] == target, name


def test_compose_runs_a_worker_per_group_of_queues_as_make_run_does_and_together_they_take_every_queue():
    from ketlogistic.core import queues

    services = _compose()["services"]
    local = devstack.process_commands(bind="127.0.0.1:8000", web_workers="2", schedule="/tmp/schedule")

    def option(command, flag):
        return command[command.index(flag) + 1]

    taken = []
    for group, names in queues.GROUPS.items():
        compose_command, local_command = services[f"worker-{group}"]["command"], local[f"worker-{group}"]
        assert option(compose_command, "-Q") == option(local_command, "-Q") == ",".join(names), group
        # a node name of its own per group, which the healthcheck pings
        assert option(compose_command, "-n") == option(local_command, "-n") == f"{group}@%h", group
        assert f"-d {group}@$$HOSTNAME" in " ".join(services[f"worker-{group}"]["healthcheck"]["test"]), group
        taken += names
    assert sorted(taken) == sorted(queues.QUEUES) and len(taken) == len(set(taken))
    assert "worker" not in services


def test_the_sms_receiver_runs_in_compose_as_make_run_starts_it():
    services = _compose()["services"]
    local = devstack.process_commands(bind="127.0.0.1:8000", web_workers="2", schedule="/tmp/schedule")

    command = services["sms-receiver"]["command"]
    assert command[:2] == ["python", "-m"]
    assert command[2:4] == local["sms-receiver"]
    assert "healthcheck" in services["sms-receiver"]
    assert "--heartbeat-file" in command


def test_the_demo_crms_are_make_runs_alone_never_a_process_of_the_system_nor_in_compose():
    local = devstack.process_commands(bind="127.0.0.1:8000", web_workers="2", schedule="/tmp/schedule")
    extras = devstack.demo_commands(retailcrm_port="8791", bitrix24_port="8792", ready_file="/tmp/ready")

    assert set(extras) == {"crm-demo"} and not set(extras) & set(local)
    assert extras["crm-demo"][0] == "tests.crm_demo"
    for name, service in _compose()["services"].items():
        command = service.get("command") or []
        text = " ".join(command) if isinstance(command, list) else str(command)
        assert "crm_demo" not in text and "tests." not in text, name
    assert "crm_demo" not in (ROOT / "Dockerfile").read_text()


def test_access_logs_never_carry_query_strings():
    web = _compose()["services"]["web"]["command"]
    local = devstack.process_commands(bind="127.0.0.1:8000", web_workers="2", schedule="/tmp/schedule")["web"]

    for command in (web, local):
        log_format = command[command.index("--access-logformat") + 1]
        assert "%(U)s" in log_format and "%(r)s" not in log_format and "%(q)s" not in log_format


def test_compose_entry_points_exist():
    from ketlogistic.celery import app
    from ketlogistic.wsgi import application

    assert callable(application)
    assert app.main == "ketlogistic"
    migrate = _compose()["services"]["migrate"]["command"][-1]
    assert "manage.py migrate" in migrate and "manage.py load_reference_data" in migrate
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "collectstatic" in dockerfile and "compile_translations" in dockerfile


def test_compose_has_an_optional_streaming_replica_the_rest_starts_without():
    compose = _compose()
    replica = compose["services"]["postgres-replica"]

    assert replica["profiles"] == ["replica"]
    assert [name for name, service in compose["services"].items() if "profiles" in service] == [
        "postgres-replica"
    ]
    assert replica["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "pg_is_in_recovery()" in replica["healthcheck"]["test"][-1]
    assert "pgreplica" in compose["volumes"]
    assert (
        replica["image"] == compose["services"]["postgres"]["image"]
    )  # a standby runs the primary's version
    script = (ROOT / "docker" / "postgres" / "replica.sh").read_text()
    assert "pg_basebackup" in script and " -R " in script and "hot_standby=on" in script
    primary = compose["services"]["postgres"]
    assert any(
        volume.endswith(":/docker-entrypoint-initdb.d/10-replication.sh:ro") for volume in primary["volumes"]
    )
    init = (ROOT / "docker" / "postgres" / "init-replication.sh").read_text()
    assert "REPLICATION LOGIN" in init and "host replication replicator" in init
