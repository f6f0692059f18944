"""What every system stack builds the same way: the security baseline (``security``), IAM
statements (``iam``), encrypted log groups (``logs``), the Python Lambda (``function``,
``lambda_code``), the IAM-authorised REST API and WAF (``rest_api``) and SageMaker images and
code tarballs (``sagemaker``)."""
