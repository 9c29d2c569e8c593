"""`manage.py demo`: migrate, load the demo plant, ensure the demo admin, then run the plant under honcho.

The processes (web, Celery worker and beat, the simulator, the OPC UA subscriptions and Sparkplug receivers) are
defined in the Procfile; honcho supervises them and stops them all on Ctrl-C. The simulator starts first, and the
others once its Modbus and OPC UA ports listen: subscriptions and polls started before (the simulator's first run
generates its OPC UA certificate) found no server, and the demo opened on latched "no communication" alarms.

The simulator serves the plant over Modbus TCP and OPC UA at once: lines 1-2 are polled over Modbus, line 3 is
subscribed to over OPC UA. When an MQTT broker answers (127.0.0.1:1883 unless --mqtt-broker says otherwise), the
simulator also publishes line 2 as a Sparkplug B edge node and line 2 is read from there instead; without one the
demo runs as before (no broker to install for the quick start).
"""

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from accounts.services.users import admin_user_ensure
from common.net import free_port_other_than, port_accepts, preferred_or_free_port, wait_for_port
from demo.maintenance import demo_maintenance_load
from demo.plant import SITE_NAME, demo_plant_load, demo_writes_load
from demo.production import demo_production_load
from demo.rules import demo_rules_load
from historian.models import Protocol, Site


def _mqtt_broker(address: str) -> tuple[str, int] | None:
    """(host, port) of the MQTT broker when one answers at `address`; None when none does (the demo needs none)."""
    host, _, port = address.rpartition(":")
    if address.lower() in ("", "off") or not port.isdigit():
        return None
    return (host, int(port)) if port_accepts(host, int(port)) else None


#: The Procfile process that the others wait for, and how long (a first run generates its OPC UA certificate).
SIMULATOR = "simulator"
SIMULATOR_START_SECONDS = 120.0


def _procfile_processes(procfile: Path) -> list[str]:
    return [line.split(":", 1)[0].strip() for line in procfile.read_text().splitlines() if ":" in line]


def _ports_wait(ports: list[int], *, process: subprocess.Popen, timeout: float) -> None:
    """Until every port listens; CommandError when `process` (which should open them) exits or time runs out."""
    deadline = time.monotonic() + timeout
    for port in ports:
        left = max(0.0, deadline - time.monotonic())
        if not wait_for_port("127.0.0.1", port, timeout=left, alive=lambda: process.poll() is None, interval=0.2):
            if process.poll() is not None:
                raise CommandError("the simulator stopped before it listened; see its output above")
            raise CommandError(f"the simulator did not listen on ports {ports} within {timeout:g} s")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()  # honcho stops its processes
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


def _demo_password(state_dir: Path) -> str:
    """MILLWRIGHT_DEMO_PASSWORD, else one generated on the first run and kept in the state folder."""
    if os.environ.get("MILLWRIGHT_DEMO_PASSWORD"):
        return os.environ["MILLWRIGHT_DEMO_PASSWORD"]
    path = state_dir / "demo" / "admin-password"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(12)
    path.write_text(password + "\n")
    path.chmod(0o600)
    return password


class Command(BaseCommand):
    help = "Set up and run the demo plant: simulator, Celery worker and beat, and the web server."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--setup-only", action="store_true", help="Prepare everything, start nothing.")
        parser.add_argument("--host", default=os.environ.get("MILLWRIGHT_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("MILLWRIGHT_WEB_PORT", "8000")))
        parser.add_argument(
            "--simulator-port", type=int, default=int(os.environ.get("MILLWRIGHT_SIMULATOR_PORT", "5020"))
        )
        parser.add_argument("--opcua-port", type=int, default=int(os.environ.get("MILLWRIGHT_OPCUA_PORT", "4840")))
        parser.add_argument(
            "--mqtt-broker",
            default=os.environ.get("MILLWRIGHT_MQTT_BROKER", "127.0.0.1:1883"),
            metavar="HOST:PORT",
            help="line 2 comes over Sparkplug B through this MQTT broker when one answers there ('off': never)",
        )

    def handle(self, *args, **options) -> None:
        self.stdout.write("Migrating the database ...")
        call_command("migrate", interactive=False, verbosity=0)
        web_port = preferred_or_free_port(options["port"], options["host"])
        sim_port = preferred_or_free_port(options["simulator_port"])
        opcua_port = preferred_or_free_port(options["opcua_port"])
        if opcua_port == sim_port:  # two free ports asked for one after the other may be the same one
            opcua_port = free_port_other_than(sim_port)
        broker = _mqtt_broker(options["mqtt_broker"])
        summary = demo_plant_load(host="127.0.0.1", port=sim_port, opcua_port=opcua_port, sparkplug_broker=broker)
        demo_production_load(site=Site.objects.get(name=SITE_NAME))
        demo_rules_load()
        username = os.environ.get("MILLWRIGHT_DEMO_USER", "admin")
        password = _demo_password(settings.MILLWRIGHT_STATE_DIR)
        admin_user_ensure(username=username, password=password)
        # The demo admin operates the machines: their setpoints and commands from each machine page.
        demo_writes_load(admin=get_user_model().objects.get(username=username))
        # CNC 102's health model, fitted from its first minutes of running (demo/maintenance.py).
        demo_maintenance_load(admin=get_user_model().objects.get(username=username))

        url = f"http://{options['host']}:{web_port}/"
        by_protocol = {
            protocol: ", ".join(str(li + 1) for li, p in enumerate(summary.protocols) if p == protocol)
            for protocol in set(summary.protocols)
        }
        feeds = f"\n  Modbus    127.0.0.1:{sim_port}, polled: lines {by_protocol[Protocol.MODBUS]}"
        feeds += f"\n  OPC UA    opc.tcp://127.0.0.1:{opcua_port}/, subscribed: line {by_protocol[Protocol.OPCUA]}"
        if broker is not None:
            feeds += (
                f"\n  Sparkplug B through the MQTT broker at {broker[0]}:{broker[1]}: line {by_protocol['sparkplug']}"
            )
        else:
            feeds += "\n  Sparkplug B: no MQTT broker found, skipped"
        self.stdout.write(
            self.style.SUCCESS(
                f"\nMillwright demo plant: {summary.lines} lines, {summary.machines} machines, {summary.tags} tags"
                f"\n  Open      {url}"
                f"\n  Wall      {url}kiosk/  (the wall screen: every line in turn; a Wall screen account only looks)"
                f"\n  User      {username}"
                f"\n  Password  {password}{feeds}\n"
            )
        )
        if options["setup_only"]:
            return
        env = {
            **os.environ,
            "MILLWRIGHT_HOST": options["host"],
            "MILLWRIGHT_WEB_PORT": str(web_port),
            "MILLWRIGHT_SIMULATOR_PORT": str(sim_port),
            "MILLWRIGHT_OPCUA_PORT": str(opcua_port),
            "MILLWRIGHT_SPARKPLUG_BROKER": f"{broker[0]}:{broker[1]}" if broker else "",
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
            "PYTHONUNBUFFERED": "1",
        }
        procfile = Path(settings.BASE_DIR) / "Procfile"
        honcho = [sys.executable, "-m", "honcho", "start", "-f", str(procfile), "-d", str(settings.BASE_DIR)]
        others = [name for name in _procfile_processes(procfile) if name != SIMULATOR]
        simulator = subprocess.Popen([*honcho, SIMULATOR], env=env)
        plant: subprocess.Popen | None = None
        try:
            _ports_wait([sim_port, opcua_port], process=simulator, timeout=SIMULATOR_START_SECONDS)
            plant = subprocess.Popen([*honcho, *others], env=env)
            code = plant.wait()
        except KeyboardInterrupt:  # Ctrl-C reaches honcho too, which stops every process: wait for it, quietly
            for process in (plant, simulator):
                if process is not None:
                    try:
                        process.wait(30)
                    except (KeyboardInterrupt, subprocess.TimeoutExpired):
                        process.kill()
            sys.exit(130)
        finally:
            if plant is not None:
                _stop(plant)
            _stop(simulator)
        sys.exit(code)
