# langdock-mock as a CI service container: docker build -t langdock-mock . && docker run -p 8080:8080 langdock-mock
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# Only what the wheel is built from (.dockerignore allows nothing else into the context).
COPY pyproject.toml README.md ./
COPY mockserver ./mockserver
COPY pytest_plugin ./pytest_plugin
COPY schemas ./schemas
RUN pip install --no-cache-dir .
RUN useradd --uid 1000 --user-group --create-home --shell /usr/sbin/nologin mock

# No network is needed at run time: the schemas ship inside the package.
# ADMIN_OPEN lets other containers of the CI network drive /__admin; on a shared network set
# LANGDOCK_MOCK_ADMIN_TOKEN as well. A TOML file can be mounted and named by LANGDOCK_MOCK_CONFIG.
ENV LANGDOCK_MOCK_HOST=0.0.0.0 \
    LANGDOCK_MOCK_PORT=8080 \
    LANGDOCK_MOCK_ADMIN_OPEN=1

USER 1000
WORKDIR /home/mock
EXPOSE 8080

# slim has no curl; the CLI asks /__admin/health itself (and sends the admin token if one is set).
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 CMD ["langdock-mock", "health"]

# SIGTERM (docker stop) finishes in-flight requests and exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["langdock-mock", "serve"]
