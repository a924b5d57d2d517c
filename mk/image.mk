# Container images; the main Makefile does `include mk/image.mk`. Not part of `make test`.
#   make image   build localhost/lakeforge:<version> (pipeline CLI, Spark Connect server) and
#                localhost/lakeforge-airflow:<version> (Airflow 3 + the CLI) from the Dockerfile with
#                buildah, bootstrapping a Debian base image when no registry is reachable, then start
#                `lakeforge --version` and `airflow version` in them. Variables: deploy/image/build.sh.
# Details: docs/deploy.md#container-image.

.PHONY: image

image:
	bash deploy/image/build.sh
