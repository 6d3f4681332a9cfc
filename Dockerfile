# sceneweb, CPU-only. docs/serving.md and docs/deploy-ec2.md say how to run it.
#   docker build -t sceneweb .                            models come from a mounted volume
#   docker build -t sceneweb --build-arg FETCH_MODELS=1 .  models downloaded into the image
# .ci/dockerfile_steps.py runs these RUN and CMD lines in a clean venv in CI (no Docker engine there).
FROM python:3.11-slim
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# 0.0.0.0 inside the container only: publish it on the host's loopback behind nginx (gunicorn has no
# deadline for reading a request, so slow clients could hold every thread; docs/serving.md, "Binding").
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SCENEWEB_BIND=0.0.0.0:8000 \
    SCENEWEB_MODELS_DIR=/app/models

WORKDIR /app

# torch and torchvision first, at requirements.txt's pins, from the CPU wheel index (PyPI's
# builds carry several GB of CUDA libraries); installing requirements.txt then keeps them.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
COPY requirements.txt ./
RUN grep -E '^(torch|torchvision)==' requirements.txt | xargs pip install --index-url "$TORCH_INDEX" \
    && pip install -r requirements.txt

# A user without privileges; it owns /app because SQLite (django-plotly-dash's few tables) writes there.
RUN groupadd --gid 10001 sceneweb && useradd --create-home --uid 10001 --gid 10001 sceneweb && chown 10001:10001 /app
COPY --chown=10001:10001 . .
USER 10001:10001

ARG FETCH_MODELS=0
RUN if [ "$FETCH_MODELS" = "1" ]; then python manage.py fetch_models; fi
# --skip-checks: the model files arrive at run time (the volume); the server checks them when it starts.
RUN python manage.py collectstatic --noinput && python manage.py migrate --noinput --skip-checks

EXPOSE 8000
# Asks as the TLS proxy would (allowed host, https); see sceneweb/healthcheck.py.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 CMD ["python", "-m", "sceneweb.healthcheck"]
CMD ["gunicorn", "-c", "sceneweb/gunicorn.py"]
