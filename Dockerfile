# Rasd's image for the fleet profile of docker-compose.yml (scheduler and workers).
#   docker build -t rasd .
# Python 3.11 slim; Rasd with the OpenSearch client and the Redis client of fleet mode
# (extras opensearch, scale; use es8/es9 instead of opensearch for an Elasticsearch server).
FROM python:3.11-slim
ARG EXTRAS=opensearch,scale
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /opt/rasd
COPY pyproject.toml README.md scrapy.cfg ./
COPY rasd rasd
COPY crawler crawler
COPY pipelines pipelines
COPY scheduler scheduler
COPY config config
COPY seeds seeds
RUN pip install ".[${EXTRAS}]" && useradd --create-home rasd && mkdir /data && chown rasd /data
USER rasd
VOLUME /data
ENTRYPOINT ["rasd"]
CMD ["--help"]
