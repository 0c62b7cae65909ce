# Production image: one image for web (gunicorn, static files served by the app), worker and beat.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=ketlogistic.settings.production

RUN groupadd --system app && useradd --system --gid app --home-dir /app app \
    && mkdir -p /app /data/media /data/beat && chown -R app:app /data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY ketlogistic ketlogistic
COPY orders orders
COPY warehouses warehouses
COPY billing billing
COPY callcenter callcenter
COPY integrations integrations
RUN pip install --no-cache-dir .
COPY . .

# Build-time values only: real secrets come from the environment at run time.
RUN SECRET_KEY=build-only-$(python -c 'print("x"*60)') \
    FIELD_ENCRYPTION_KEYS=YnVpbGQtb25seS1ub3QtYS1yZWFsLWtleS0wMDAwMDA= \
    BLIND_INDEX_KEY=build-only \
    python manage.py compile_translations \
    && SECRET_KEY=build-only-$(python -c 'print("x"*60)') \
    FIELD_ENCRYPTION_KEYS=YnVpbGQtb25seS1ub3QtYS1yZWFsLWtleS0wMDAwMDA= \
    BLIND_INDEX_KEY=build-only \
    python manage.py collectstatic --noinput

USER app
EXPOSE 8000
CMD ["gunicorn", "ketlogistic.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "4", "--threads", "4", \
     "--config", "gunicorn.conf.py"]
