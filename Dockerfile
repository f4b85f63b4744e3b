# One image, two roles: ROLE=web (Caddy front + gunicorn + uvicorn on $PORT)
# or ROLE=worker (Dramatiq). Configured only by environment variables.
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc make libc6-dev \
    && rm -rf /var/lib/apt/lists/*
COPY requirements.txt /tmp/requirements.txt
# The CPU build of torch; a GPU worker image uses a CUDA index instead
# (docker build --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu126 ...).
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --extra-index-url "$TORCH_INDEX" -r /tmp/requirements.txt

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=app:app . /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DJANGO_ENV=production \
    VAR_DIR=/app/var \
    BIND_HOST=0.0.0.0 \
    PORT=8000 \
    ROLE=web
RUN mkdir -p /app/var && chown app:app /app/var \
    && DJANGO_ENV=local SECRET_KEY=build MASTER_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
       python manage.py collectstatic --noinput -v0 && chown -R app:app /app/var
USER app
EXPOSE 8000
CMD ["sh", "-c", "if [ \"$ROLE\" = web ]; then set -- --setup; fi; exec python deploy/stack.py --role \"$ROLE\" \"$@\""]
