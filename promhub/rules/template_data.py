"""The data Alertmanager notification templates see, and the template set they run in.

Alertmanager templates call Go methods on their data: ``.Alerts.Firing``,
``.CommonLabels.SortedPairs.Values``, ``.CommonLabels.Remove .GroupLabels.Names``. The
classes here are those types, so a user's ``templates:`` files render unchanged. The alert
manager builds a :class:`NotificationData` per notification and renders receiver fields with
:func:`notification_template`.

>>> kv = KV({"job": "node", "alertname": "Down"})
>>> kv.SortedPairs().Values()
['Down', 'node']
"""

from __future__ import annotations

import datetime as dt
import glob
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, ClassVar

from promhub.rules.template import StrMap, Template, TemplateError
from promhub.rules.template_funcs import alertmanager_funcs

__all__ = [
    "KV",
    "Alert",
    "Alerts",
    "NotificationData",
    "Pair",
    "Pairs",
    "default_templates_text",
    "notification_template",
    "render",
]


@dataclass(frozen=True)
class Pair:
    """A label name and value (Go ``template.Pair``)."""

    go_type: ClassVar[str] = "template.Pair"

    Name: str
    Value: str

    def String(self) -> str:  # noqa: N802 - Go prints a struct as {Name Value}
        """Go's %v of the struct."""
        return f"{{{self.Name} {self.Value}}}"


class Pairs(list[Pair]):
    """Sorted label pairs (Go ``template.Pairs``)."""

    go_type = "template.Pairs"

    def Names(self) -> list[str]:  # noqa: N802
        """The pairs' names, in order."""
        return [p.Name for p in self]

    def Values(self) -> list[str]:  # noqa: N802
        """The pairs' values, in order."""
        return [p.Value for p in self]


class KV(StrMap):
    """A label or annotation set (Go ``template.KV``, a ``map[string]string``)."""

    go_type = "template.KV"

    def SortedPairs(self) -> Pairs:  # noqa: N802
        """Pairs sorted by name, except that ``alertname`` comes first as in Alertmanager."""
        names = sorted(self)
        if "alertname" in self:
            names.remove("alertname")
            names.insert(0, "alertname")
        return Pairs(Pair(n, self[n]) for n in names)

    def Remove(self, keys: Iterable[str]) -> KV:  # noqa: N802
        """A copy without ``keys``."""
        drop = set(keys)
        return KV({k: v for k, v in self.items() if k not in drop})

    def Names(self) -> list[str]:  # noqa: N802
        """Names of the sorted pairs."""
        return self.SortedPairs().Names()

    def Values(self) -> list[str]:  # noqa: N802
        """Values of the sorted pairs."""
        return self.SortedPairs().Values()


_ZERO_TIME = dt.datetime(1, 1, 1, tzinfo=dt.UTC)


@dataclass
class Alert:
    """One alert in a notification (Go ``template.Alert``)."""

    go_type: ClassVar[str] = "template.Alert"

    Status: str
    Labels: KV
    Annotations: KV = field(default_factory=KV)
    StartsAt: dt.datetime = _ZERO_TIME
    EndsAt: dt.datetime = _ZERO_TIME
    GeneratorURL: str = ""
    Fingerprint: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.Labels, KV):
            self.Labels = KV(self.Labels)
        if not isinstance(self.Annotations, KV):
            self.Annotations = KV(self.Annotations)


class Alerts(list[Alert]):
    """The alerts of a notification (Go ``template.Alerts``)."""

    go_type = "template.Alerts"

    def Firing(self) -> Alerts:  # noqa: N802
        """The firing alerts."""
        return Alerts(a for a in self if a.Status == "firing")

    def Resolved(self) -> Alerts:  # noqa: N802
        """The resolved alerts."""
        return Alerts(a for a in self if a.Status == "resolved")


@dataclass
class NotificationData:
    """Dot of a notification template (Go ``template.Data``)."""

    go_type: ClassVar[str] = "template.Data"

    Receiver: str
    Status: str
    Alerts: Alerts
    GroupLabels: KV = field(default_factory=KV)
    CommonLabels: KV = field(default_factory=KV)
    CommonAnnotations: KV = field(default_factory=KV)
    ExternalURL: str = ""

    @classmethod
    def from_alerts(
        cls,
        receiver: str,
        alerts: Iterable[Alert],
        group_labels: Mapping[str, str],
        external_url: str = "",
    ) -> NotificationData:
        """Build the data as Alertmanager does: status is firing if any alert fires, and
        common labels/annotations are those every alert shares."""
        items = Alerts(alerts)
        status = "firing" if any(a.Status == "firing" for a in items) else "resolved"
        return cls(
            Receiver=receiver,
            Status=status,
            Alerts=items,
            GroupLabels=KV(group_labels),
            CommonLabels=_common(a.Labels for a in items),
            CommonAnnotations=_common(a.Annotations for a in items),
            ExternalURL=external_url,
        )


def _common(sets: Iterable[Mapping[str, str]]) -> KV:
    it = iter(sets)
    first = next(it, None)
    if first is None:
        return KV()
    common = dict(first)
    for s in it:
        for k in list(common):
            if s.get(k) != common[k]:
                del common[k]
    return KV(common)


def default_templates_text() -> str:
    """promhub's default notification templates (Alertmanager's names and output)."""
    return (resources.files("promhub.rules") / "templates" / "default.tmpl").read_text("utf-8")


def notification_template(paths: Iterable[str] = ()) -> Template:
    """The template set receivers render with: the defaults plus the ``templates:`` globs.

    Raises:
        TemplateError: a user file does not parse (the message names file and line).
    """
    tmpl = Template("default.tmpl", alertmanager_funcs())
    tmpl.add("default.tmpl", default_templates_text())
    for pattern in paths:
        for path in sorted(glob.glob(pattern)):
            try:
                with open(path, encoding="utf-8") as f:
                    text = f.read()
            except OSError as e:
                raise TemplateError(f"template: {path}: {e.strerror}") from None
            tmpl.add(path, text)
    return tmpl


def render(tmpl: Template, text: str, data: Any) -> str:
    """Render a receiver field such as ``'{{ template "slack.default.title" . }}'``.

    The field text is parsed into the set so it can call every defined template.
    """
    return tmpl.derive("__field", text).execute(data)
