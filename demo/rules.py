"""The demo's rule, shipped in dry run: stop CNC 102 (the machine whose bearing wears fast, demo.simulator.wear
DEMO_WEAR) when its spindle vibration stays above the HiHi limit for 30 s. Its firings journal what it would have
done (write Stop to the command register); an administrator backtests it from the rule's admin page before
turning dry run off."""

from django.db import transaction

from automation.models import Rule
from automation.services.rules import rule_save
from demo.simulator.plant import MachineCommand
from historian.models import Machine, Tag

RULE_NAME = "Stop CNC 102 on vibration HiHi"
MACHINE = "CNC 102"
#: mm/s RMS: the spindle vibration's HiHi limit (its Hi alarm is at 6 mm/s, demo.alarms).
VIBRATION_HIHI = 10.0


@transaction.atomic
def demo_rules_load() -> Rule | None:
    """Create the demo rule, or bring it back to its shipped form (a new version only when it changed)."""
    machine = Machine.objects.filter(name=MACHINE).first()
    if machine is None:
        return None
    tags = {t.path.rsplit(".", 1)[-1]: t for t in Tag.objects.filter(machine=machine)}
    rule = Rule.objects.filter(name=RULE_NAME).first() or Rule(name=RULE_NAME)
    rule.description = (
        f"Stop {MACHINE} when its spindle vibration stays above its HiHi limit ({VIBRATION_HIHI:g} mm/s) for 30 s. "
        "Shipped in dry run: see its firings, and backtest it."
    )
    rule.enabled = True
    rule.dry_run = True
    rule.cooldown_seconds = 600
    rule.condition = {
        "type": "tag",
        "tag": tags["vibration_rms"].path,
        "comparison": ">",
        "value": VIBRATION_HIHI,
        "for_seconds": 30,
    }
    rule.actions = [{"type": "write", "tag": tags["command"].path, "value": int(MachineCommand.STOP)}]
    rule_save(rule=rule, user=None, comment="the demo's rule")
    return rule
