"""Operators sign in to the console with a Cognito user pool and its hosted sign-in page.

Self sign-up is off by default: an administrator creates each operator
(``aws cognito-idp admin-create-user``, docs/console.md), who sets a password and a TOTP second
factor at first sign-in. The page's app client is public (a browser holds no secret) and gets an
ID token the read API's Cognito authorizer checks.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from cdk.nag import CONSOLE_COGNITO_THREAT_PROTECTION, acknowledge


class SignIn(Construct):
    """Exposes ``user_pool``, ``domain`` and ``client()`` (created once the page's URL is known)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        self_sign_up: bool,
        domain_prefix: str,
        removal_policy: RemovalPolicy,
    ):
        super().__init__(scope, construct_id)
        self.user_pool = cognito.UserPool(
            self,
            "Operators",
            self_sign_up_enabled=self_sign_up,
            sign_in_aliases=cognito.SignInAliases(email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(sms=False, otp=True),
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            removal_policy=removal_policy,
        )
        acknowledge(self.user_pool, CONSOLE_COGNITO_THREAT_PROTECTION)
        self.domain = self.user_pool.add_domain(
            "HostedSignIn",
            cognito_domain=cognito.CognitoDomainOptions(domain_prefix=domain_prefix),
        )

    def client(self, page_url: str) -> cognito.UserPoolClient:
        """The page's public app client: implicit grant to ``page_url``, ID tokens for 1 hour."""
        return self.user_pool.add_client(
            "Page",
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_srp=True),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(implicit_code_grant=True),
                scopes=[cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL],
                callback_urls=[page_url],
                logout_urls=[page_url],
            ),
            id_token_validity=Duration.hours(1),
            access_token_validity=Duration.hours(1),
            prevent_user_existence_errors=True,
        )

    def sign_in_url(self, client: cognito.UserPoolClient, page_url: str) -> str:
        return self.domain.sign_in_url(client, redirect_uri=page_url, sign_in_path="/login")
