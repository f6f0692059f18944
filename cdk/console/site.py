"""The console page: a private S3 bucket served by CloudFront through origin access control.

The page is the bundle ``console/build.mjs`` writes to ``console/dist/`` (no runtime CDN), plus a
``config.json`` written at deploy time with the sign-in URL (no secrets: a public app client's id
and the hosted sign-in domain). Every response carries security headers, including a
content-security policy that allows only this origin's scripts and styles, and HSTS; viewers are
redirected to HTTPS. ``/api/*`` is forwarded, uncached with the viewer's Authorization header, to
the read API, so the page calls its own origin (no CORS).
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from cdk.console.sign_in import SignIn
from cdk.nag import CONSOLE_DISTRIBUTION, CONSOLE_PAGE_DEPLOYMENT, acknowledge
from cdk.shared.security import SecurityBaseline

PAGE_DIR = Path(__file__).resolve().parents[2] / "console" / "dist"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'; upgrade-insecure-requests"
)


class Site(Construct):
    """Exposes ``bucket``, ``distribution`` and ``client`` (the page's Cognito app client)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        baseline: SecurityBaseline,
        api: apigw.RestApi,
        sign_in: SignIn,
    ):
        super().__init__(scope, construct_id)
        if not (PAGE_DIR / "index.html").exists():
            raise FileNotFoundError(
                f"{PAGE_DIR}/index.html is missing: build the page with `node console/build.mjs` "
                "(make bootstrap does)"
            )
        # CloudFront's origin access control reads SSE-S3 objects without a key-policy grant;
        # the page is public code with no data, so the stack key adds nothing here.
        self.bucket = baseline.data_bucket(
            "Page",
            scope=self,
            encryption=s3.BucketEncryption.S3_MANAGED,
            encryption_key=None,
            bucket_key_enabled=None,
        )
        headers = cloudfront.ResponseHeadersPolicy(
            self,
            "SecurityHeaders",
            comment="Vigil console: CSP, HSTS, no framing, no sniffing, no referrer",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=CONTENT_SECURITY_POLICY, override=True
                ),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=Duration.days(365),
                    include_subdomains=True,
                    preload=True,
                    override=True,
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.NO_REFERRER, override=True
                ),
            ),
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="Vigil console",
            default_root_object="index.html",
            minimum_protocol_version=cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
            enable_logging=True,
            log_bucket=baseline.log_bucket,
            log_file_prefix="cloudfront/",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                response_headers_policy=headers,
            ),
            additional_behaviors={
                "/api/*": cloudfront.BehaviorOptions(
                    origin=origins.RestApiOrigin(api),
                    viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                    allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD_OPTIONS,
                    cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
                    origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
                    response_headers_policy=headers,
                )
            },
        )
        acknowledge(self.distribution, *CONSOLE_DISTRIBUTION)
        page_url = f"https://{self.distribution.distribution_domain_name}/"
        self.client = sign_in.client(page_url)
        deployment = s3deploy.BucketDeployment(
            self,
            "Deploy",
            destination_bucket=self.bucket,
            sources=[
                s3deploy.Source.asset(str(PAGE_DIR)),
                s3deploy.Source.json_data(
                    "config.json",
                    {
                        "mode": "cloud",
                        "apiBase": "/api",
                        "signInUrl": sign_in.sign_in_url(self.client, page_url),
                    },
                ),
            ],
            distribution=self.distribution,
            distribution_paths=["/index.html", "/config.json", "/main.js", "/main.css"],
            prune=True,
        )
        # CDK runs every BucketDeployment of a stack through one singleton function it owns
        for child in Stack.of(self).node.children:
            if child.node.id.startswith("Custom::CDKBucketDeployment"):
                acknowledge(child, *CONSOLE_PAGE_DEPLOYMENT)
        self.deployment = deployment
