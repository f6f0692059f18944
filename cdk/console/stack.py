"""The Vigil console stack: sign-in, the read API and the page, wired together.

* ``SignIn`` (``sign_in.py``): a Cognito user pool, self sign-up off by default, MFA required;
* ``ReadApi`` (``read_api.py``): API Gateway (Cognito authorizer on every method) → the read-API
  Lambda, reading the tables the system stacks publish as SSM parameters;
* ``Site`` (``site.py``): the bundled page in a private S3 bucket, served by CloudFront through
  origin access control with a content-security policy; ``/api/*`` goes to the read API through
  the same distribution, so the page calls its own origin.

The system stacks (Vigil-Fraud, Vigil-AirQuality) deploy first: their parameters must exist.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from cdk.config import SharedSettings
from cdk.console.read_api import ReadApi
from cdk.console.settings import ConsoleStackSettings
from cdk.console.sign_in import SignIn
from cdk.console.site import Site
from cdk.shared.security import SecurityBaseline


class ConsoleStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        shared: SharedSettings,
        settings: ConsoleStackSettings,
        **kwargs,
    ):
        super().__init__(scope, construct_id, **kwargs)
        self.baseline = SecurityBaseline(
            self,
            "Baseline",
            removal=shared.removal_policy,
            description="Vigil console: encrypts the read API's logs and environment",
        )
        removal = self.baseline.removal_policy
        self.sign_in = SignIn(
            self,
            "SignIn",
            self_sign_up=settings.self_sign_up,
            domain_prefix=settings.domain_prefix
            or f"{shared.stack_prefix.lower()}-console-{self.account}",
            removal_policy=removal,
        )
        self.read_api = ReadApi(
            self,
            "ReadApi",
            key=self.baseline.key,
            user_pool=self.sign_in.user_pool,
            stack_prefix=shared.stack_prefix,
            log_retention_days=shared.log_retention_days,
            removal_policy=removal,
            reserved_concurrency=settings.read_api_reserved_concurrency,
        )
        self.site = Site(
            self,
            "Site",
            baseline=self.baseline,
            api=self.read_api.api,
            sign_in=self.sign_in,
        )
        CfnOutput(self, "ConsoleUrl", value=f"https://{self.site.distribution.domain_name}/")
        CfnOutput(self, "UserPoolId", value=self.sign_in.user_pool.user_pool_id)
