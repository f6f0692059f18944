"""Local stand-ins for the AWS services and SageMaker pieces Vigil runs on (see ``local/``)."""
