"""make deploy and make undeploy (deploy/), against a fake gcloud and the sandbox."""
