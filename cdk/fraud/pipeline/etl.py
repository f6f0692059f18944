"""ETL phase: NormalizeParameters → IngestData → StartCrawler → (WaitForCrawler → GetCrawler)* →
CatalogReady → ProcessData (the Glue job, ``.sync``)."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks

from cdk.fraud.pipeline.states import PipelineStates
from cdk.shared.function import PythonFunction

WAIT_CRAWLER = Duration.seconds(30)


class EtlStates:
    """``start`` (NormalizeParameters) … ``end`` (ProcessData), wired in between."""

    def __init__(
        self,
        states: PipelineStates,
        *,
        normalize: PythonFunction,
        ingest: PythonFunction,
        crawler_name: str,
        glue_job_name: str,
    ):
        scope, guard, invoke = states.scope, states.guard, states.invoke
        normalize_state = invoke(
            "NormalizeParameters",
            normalize,
            {
                "input": sfn.JsonPath.object_at("$$.Execution.Input"),
                "executionName": sfn.JsonPath.execution_name,
            },
            "$.config",
        )
        ingest_state = invoke(
            "IngestData",
            ingest,
            {
                "location": sfn.JsonPath.string_at("$.config.data.location"),
                "tables": sfn.JsonPath.string_at("$.config.data.tables"),
            },
            "$.ingest",
        )
        crawler_arn = Stack.of(scope).format_arn(
            service="glue", resource="crawler", resource_name=crawler_name
        )
        start_crawler = tasks.CallAwsService(
            scope,
            "StartCrawler",
            service="glue",
            action="startCrawler",
            parameters={"Name": crawler_name},
            iam_resources=[crawler_arn],
            result_path=sfn.JsonPath.DISCARD,
        )
        wait_crawler = sfn.Wait(scope, "WaitForCrawler", time=sfn.WaitTime.duration(WAIT_CRAWLER))
        # Already running (a previous attempt started it): just wait for it.
        start_crawler.add_catch(
            wait_crawler, errors=["Glue.CrawlerRunningException"], result_path=sfn.JsonPath.DISCARD
        )
        guard(start_crawler, "glue")
        get_crawler = guard(
            tasks.CallAwsService(
                scope,
                "GetCrawler",
                service="glue",
                action="getCrawler",
                parameters={"Name": crawler_name},
                iam_resources=[crawler_arn],
                result_selector={"crawler": sfn.JsonPath.object_at("$.Crawler")},
                result_path="$.crawl",
            ),
            "glue",
        )
        crawl_failed = states.failed_with(
            "CrawlFailed",
            "CrawlFailed",
            sfn.JsonPath.format(
                "crawler {} finished {}: {}",
                sfn.JsonPath.string_at("$.crawl.crawler.Name"),
                sfn.JsonPath.string_at("$.crawl.crawler.LastCrawl.Status"),
                sfn.JsonPath.json_to_string(sfn.JsonPath.object_at("$.crawl.crawler.LastCrawl")),
            ),
        )

        # The catalog is ready: carry on with only the run's config (drops the crawler polling).
        crawled = sfn.Pass(
            scope,
            "CatalogReady",
            parameters={
                "config": sfn.JsonPath.object_at("$.config"),
                "ingest": sfn.JsonPath.object_at("$.ingest"),
            },
        )
        self.end = guard(
            tasks.GlueStartJobRun(
                scope,
                "ProcessData",
                glue_job_name=glue_job_name,
                integration_pattern=sfn.IntegrationPattern.RUN_JOB,
                arguments=sfn.TaskInput.from_object(
                    {  # glue/fraud_etl.py's arguments
                        "--transactions": sfn.JsonPath.string_at("$.ingest.transactions"),
                        "--identity": sfn.JsonPath.string_at("$.ingest.identity"),
                        "--output": sfn.JsonPath.string_at("$.config.processed"),
                        "--input-format": sfn.JsonPath.string_at("$.ingest.format"),
                    }
                ),
                result_selector={
                    "jobRunId": sfn.JsonPath.string_at("$.Id"),
                    "state": sfn.JsonPath.string_at("$.JobRunState"),
                },
                result_path="$.etl",
            ),
            "glue",
        )

        start_crawler.next(wait_crawler)
        # Two Choices so LastCrawl.Status is only compared when it is present.
        wait_crawler.next(get_crawler).next(
            sfn.Choice(scope, "CrawlerDone")
            .when(
                sfn.Condition.string_equals("$.crawl.crawler.State", "READY"),
                sfn.Choice(scope, "CrawlSucceeded")
                .when(sfn.Condition.is_not_present("$.crawl.crawler.LastCrawl.Status"), crawled)
                .when(
                    sfn.Condition.string_equals("$.crawl.crawler.LastCrawl.Status", "FAILED"),
                    crawl_failed,
                )
                .otherwise(crawled),
            )
            .otherwise(wait_crawler)
        )
        crawled.next(self.end)
        normalize_state.next(ingest_state).next(start_crawler)
        self.start = normalize_state
