"""The Vigil console in the cloud: the page (S3 + CloudFront), sign-in (Cognito) and the read APIs."""
