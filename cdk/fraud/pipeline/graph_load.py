"""Graph-load phase: StartGraphLoad → (WaitForGraphLoad → GetGraphLoadStatus)* (the Neptune bulk
loader, through the GraphLoad Lambda)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_stepfunctions as sfn

from cdk.fraud.pipeline.states import PipelineStates
from cdk.shared.function import PythonFunction

WAIT_GRAPH_LOAD = Duration.seconds(30)


class GraphLoadStates:
    """``start`` (StartGraphLoad); ``then(next)`` continues once the load is done."""

    def __init__(self, states: PipelineStates, *, graph_load: PythonFunction):
        self._scope = states.scope
        self.start = states.invoke(
            "StartGraphLoad",
            graph_load,
            {
                "action": "start",
                "source": sfn.JsonPath.string_at("$.config.graphLoad.source"),
                "format": sfn.JsonPath.string_at("$.config.graphLoad.format"),
            },
            "$.graphLoad",
        )
        self._wait = sfn.Wait(
            self._scope, "WaitForGraphLoad", time=sfn.WaitTime.duration(WAIT_GRAPH_LOAD)
        )
        self._status = states.invoke(
            "GetGraphLoadStatus",
            graph_load,
            {"action": "status", "loadId": sfn.JsonPath.string_at("$.graphLoad.loadId")},
            "$.graphLoad",
        )

    def then(self, next_state: sfn.IChainable) -> None:
        self.start.next(self._wait).next(self._status).next(
            sfn.Choice(self._scope, "GraphLoadDone")
            .when(sfn.Condition.boolean_equals("$.graphLoad.done", True), next_state)
            .otherwise(self._wait)
        )
