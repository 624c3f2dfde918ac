"""Rule label/annotation templates, expanded as Prometheus' rules manager does.

Connects the rules engine's :data:`~promhub.rules.rule.Expand` seam to the template
language: ``$labels``, ``$value``, ``$externalLabels``, ``$externalURL`` and a ``query``
function that runs an instant PromQL query at the evaluation time. A template that fails
to execute becomes ``<error expanding template: …>`` in the annotation, as in Prometheus
(the alert is kept); one that does not parse is refused when the rule file is loaded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from promhub.promql.engine import Engine
from promhub.promql.value import ScalarSeries, VectorSeries
from promhub.rules.template import TemplateError
from promhub.rules.template_funcs import Sample, check_rule_template, expand_rule_template_or_error
from promhub.storage.interface import Queryable

__all__ = ["RuleTemplateExpander", "check_template"]


def check_template(name: str, text: str) -> str | None:
    """The :data:`~promhub.rules.rulefile.TemplateCheck` of rule files: the parse error, or
    None (``name`` is ``__alert_<alertname>``, as Prometheus names rule templates)."""
    try:
        check_rule_template(text, name)
    except TemplateError as e:
        return str(e)
    return None


class RuleTemplateExpander:
    """The rules engine's template expander over a PromQL engine and a queryable."""

    def __init__(
        self,
        engine: Engine,
        queryable: Queryable,
        external_labels: Callable[[], Mapping[str, str]],
        external_url: str = "",
    ) -> None:
        self._engine = engine
        self._queryable = queryable
        self._external_labels = external_labels
        self._external_url = external_url

    def __call__(
        self, alertname: str, text: str, labels: dict[str, str], value: float, ts_ms: int
    ) -> str:
        if "{{" not in text:  # the common case: a plain string costs nothing
            return text

        def query(expr: str) -> list[Sample]:
            v = self._engine.instant(self._queryable, expr, ts_ms).value
            if isinstance(v, ScalarSeries):
                return [Sample({}, float(v.values[0]))]
            if not isinstance(v, VectorSeries):
                raise TemplateError(f"query {expr!r} did not return a vector or scalar")
            vals = v.values[:, 0].tolist()
            return [Sample(ls.to_dict(), x) for ls, x in zip(v.labels, vals, strict=True)]

        return expand_rule_template_or_error(
            text,
            labels,
            value,
            external_labels=self._external_labels(),
            external_url=self._external_url,
            query=query,
            name=f"__alert_{alertname}",
        )
