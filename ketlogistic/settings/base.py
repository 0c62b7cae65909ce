"""Settings shared by every environment. Machine-specific values come from `ketlogistic.env`."""

from datetime import timedelta

import dj_database_url
from celery.schedules import crontab
from django.utils.translation import gettext_lazy as _
from kombu import Exchange, Queue

from ketlogistic.core import queues
from ketlogistic.core.sentry import init_sentry
from ketlogistic.env import (
    BASE_DIR,
    cache_redis_url,
    celery_broker_url,
    env_bool,
    env_decimal,
    env_int,
    env_list,
    env_str,
)

SECRET_KEY = env_str("SECRET_KEY", "dev-only-insecure-key-change-me-in-production-0123456789abcdef")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # the second factor: django-otp and its TOTP devices (recovery codes are core's own, stored hashed)
    "django_otp",
    "django_otp.plugins.otp_totp",
    "ketlogistic.core",
    "geography",
    "catalogue",
    "orders",
    "warehouses",
    "callcenter",
    "delivery",
    "billing",
    "integrations",
    "setup",
]

MIDDLEWARE = [
    # first: times every request (the latency histogram) and answers /metrics before any other middleware runs
    "ketlogistic.metrics.http.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "ketlogistic.core.middleware.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # answers static files itself (compressed at collectstatic)
    # gzip: outside every middleware that reads or changes the body; see ketlogistic/core/compression.py for BREACH
    "ketlogistic.core.compression.CompressionMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "ketlogistic.core.middleware.RussianFirstLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "ketlogistic.core.middleware.ApiErrorPagesMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): the second factor the session was verified with (django-otp)
    "django_otp.middleware.OTPMiddleware",
    # read-your-writes on the read replica; not loaded without one (ketlogistic.core.db_routing)
    "ketlogistic.core.db_routing.ReplicaStickinessMiddleware",
    "ketlogistic.core.middleware.UserTimezoneMiddleware",
    "ketlogistic.core.middleware.UnstorableInputMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # a login that must give its second factor (or enrol one) reaches nothing else until it has
    "ketlogistic.core.second_factor.SecondFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "ketlogistic.urls"
# The one list of cross-app reactions (ketlogistic.core.reactions)
WIRING_MODULE = "ketlogistic.wiring"
WSGI_APPLICATION = "ketlogistic.wsgi.application"
ASGI_APPLICATION = "ketlogistic.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "ketlogistic.core.context_processors.menu",
            ],
        },
    },
]

# One SQL dialect everywhere: PostgreSQL. There is deliberately no SQLite fallback.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ketlogistic"),
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
DATABASES["default"].setdefault("OPTIONS", {})
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# A streaming read replica of that database (optional; docs/SCALING.md, docs/OPERATIONS.md → «The read replica»): the
# read-only pages (the period report, statements, stock and order exports, dashboards, the API's lists) read from it
# through `ketlogistic.core.db_routing`; unset, everything stays on the primary. A replica that lags more than
# REPLICA_MAX_LAG_SECONDS or does not answer within REPLICA_CONNECT_TIMEOUT is left for the primary (checked at most
# every REPLICA_CHECK_SECONDS per process, a dead one again after REPLICA_RETRY_SECONDS); a user or an API key that
# has just written reads from the primary until the replica has replayed that write, for at most
# REPLICA_STICKY_SECONDS.
REPLICA_CONNECT_TIMEOUT = env_int("REPLICA_CONNECT_TIMEOUT", 2)
if env_str("DATABASE_REPLICA_URL"):
    DATABASES["replica"] = dj_database_url.parse(
        env_str("DATABASE_REPLICA_URL"),
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
    DATABASES["replica"].setdefault("OPTIONS", {}).setdefault("connect_timeout", REPLICA_CONNECT_TIMEOUT)
    DATABASES["replica"]["ATOMIC_REQUESTS"] = False
    # the same database by another way: the test runner creates nothing on it
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["ketlogistic.core.db_routing.ReplicaRouter"]
REPLICA_MAX_LAG_SECONDS = env_int("REPLICA_MAX_LAG_SECONDS", 5)
REPLICA_STICKY_SECONDS = env_int("REPLICA_STICKY_SECONDS", 30)
REPLICA_CHECK_SECONDS = 1.0
REPLICA_RETRY_SECONDS = env_int("REPLICA_RETRY_SECONDS", 5)

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
# Redis answers here in well under a millisecond. One that accepts connections and never answers (frozen, in a
# failover, a half-open connection) must not hold a request: the cache and the broker give up on a command after
# REDIS_SOCKET_TIMEOUT seconds and on a connection after REDIS_CONNECT_TIMEOUT. What calls them then goes on
# without them: the API's rate limit lets the request through, a kick to a worker is left to beat
# (`ketlogistic.core.broker`), the tracking page says it is unavailable. Without these the broker's client waits
# forever (kombu's default) and the cache's five seconds (redis-py's) per command.
REDIS_SOCKET_TIMEOUT = env_int("REDIS_SOCKET_TIMEOUT", 2)
REDIS_CONNECT_TIMEOUT = env_int("REDIS_CONNECT_TIMEOUT", 2)
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        # a database of its own (the broker keeps REDIS_URL's): cache.clear() flushes its whole database
        "LOCATION": env_str("CACHE_URL", cache_redis_url(REDIS_URL)),
        "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "ketlogistic"),
        "TIMEOUT": 300,
        "OPTIONS": {"socket_timeout": REDIS_SOCKET_TIMEOUT, "socket_connect_timeout": REDIS_CONNECT_TIMEOUT},
    }
}

AUTH_USER_MODEL = "core.User"
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Repeated failed logins lock the account name (not the client address, which a proxy header could fake).
LOGIN_LOCKOUT_THRESHOLD = env_int("LOGIN_LOCKOUT_THRESHOLD", 5)
LOGIN_LOCKOUT_WINDOW = timedelta(minutes=env_int("LOGIN_LOCKOUT_WINDOW_MINUTES", 15))
LOGIN_LOCKOUT_COOLOFF = timedelta(minutes=env_int("LOGIN_LOCKOUT_COOLOFF_MINUTES", 15))
# The second factor (ketlogistic/core/second_factor.py): TOTP codes of any authenticator app. Finance directors,
# administrators, supervisors and heads of department must enrol; a partner's administrator may require it of the
# partner's logins. The most dangerous actions (approving a charge run, marking a payout paid, changing a tariff or a
# role, revealing a phone) ask for a fresh code when the session's last one is older than OTP_STEP_UP_SECONDS.
OTP_STEP_UP_SECONDS = env_int("OTP_STEP_UP_SECONDS", 900)
OTP_TOTP_ISSUER = "KetLogistic"
# A code is taken within one 30-second step either side of the server's clock (each device's `tolerance`, 1), never
# twice (the device keeps the last step used), and the server's window does not wander after a phone's drift.
OTP_TOTP_SYNC = False
# Wrong codes count toward the login lockout above (one door) and, per device, wait 1, 2, 4, 8 … seconds between tries
# (django-otp's throttling, never reset by the lockout's cool-off: a long guessing campaign slows to a halt).
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_RECOVERY_THROTTLE_FACTOR = 1

LANGUAGE_CODE = "ru"
LANGUAGES = [("ru", _("Russian")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
# Stored in UTC; shown in the user's (or the city's) zone. KZ runs on Asia/Almaty, KG on Asia/Bishkek.
TIME_ZONE = "Asia/Almaty"

STATIC_URL = "/static/"
STATIC_ROOT = env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = env_str("MEDIA_ROOT", str(BASE_DIR / ".data" / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 10 * 1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 5000

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "KetLogistic <noreply@ketlogistic.kz>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Customer phones: MultiFernet keys, newest first. The first key encrypts; all keys decrypt.
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEYS", [])
# Keyed hash for searching phones without decrypting them (blind index). Never rotate it casually:
# rotating it requires recomputing every index (manage.py rotate_phone_keys --reindex).
BLIND_INDEX_KEY = env_str("BLIND_INDEX_KEY", "")

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = 60 * 60 * 12
# Sessions are kept in the database and read from the cache (ketlogistic/core/sessions.py): a cached copy lives at
# most SESSION_CACHE_SECONDS; after a cache failure a process uses the database alone for SESSION_CACHE_RETRY_SECONDS.
SESSION_ENGINE = "ketlogistic.core.sessions"
SESSION_CACHE_SECONDS = env_int("SESSION_CACHE_SECONDS", 300)
SESSION_CACHE_RETRY_SECONDS = env_int("SESSION_CACHE_RETRY_SECONDS", 30)
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# Celery: Redis broker, late acknowledgement so a task whose worker died is delivered again.
CELERY_BROKER_URL = celery_broker_url(REDIS_URL)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "Asia/Almaty"
CELERY_ENABLE_UTC = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A task whose worker died unacknowledged goes back to its queue after this many seconds (a worker checks
# when it starts and every 100 s). Longer than any task runs, or a slow task would be delivered twice. A worker
# killed as a whole is not waited for that long where it matters: beat's sweeps finish its work (billing's
# stale drafts and approvals). The socket timeouts: see REDIS_SOCKET_TIMEOUT (a worker's BRPOP waits 1 s, less).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 60 * 60),
    "socket_timeout": REDIS_SOCKET_TIMEOUT,
    "socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
}
# Every key the broker writes (the queues, the tasks held by workers) starts with this: several installations, or test
# runs, may then share one Redis database without taking each other's tasks. Empty: none.
if env_str("CELERY_BROKER_KEY_PREFIX"):
    CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = env_str("CELERY_BROKER_KEY_PREFIX")
CELERY_BEAT_SCHEDULE_FILENAME = env_str(
    "CELERY_BEAT_SCHEDULE_FILENAME", str(BASE_DIR / ".data" / "celerybeat-schedule")
)

# Every periodic task of the system, with when and why it runs.
CELERY_BEAT_SCHEDULE = {
    # The weekly charge run's draft for the week that ended (Monday 03:00, Asia/Almaty).
    "weekly-charge-run": {
        "task": "billing.weekly_charge_run",
        "schedule": crontab(hour=3, minute=0, day_of_week=1),
        "options": {"expires": 6 * 60 * 60},
    },
    # An approval of a weekly run that stopped midway (a request killed, a worker lost) is finished.
    "resume-charge-run-approvals": {
        "task": "billing.resume_approvals",
        "schedule": crontab(minute="*/10"),
        "options": {"expires": 9 * 60},
    },
    # A weekly draft never computed (its worker killed as a whole: the broker would hand the task back only
    # after the visibility timeout, an hour) is computed.
    "compute-stale-charge-run-drafts": {
        "task": "billing.compute_stale_drafts",
        "schedule": crontab(minute="5-59/10"),
        "options": {"expires": 9 * 60},
    },
    # The previous month's monthly partner reports (from the 1st) and its documents — the act of services rendered
    # and the invoice per partner and currency — as soon as every weekly run of the month is approved (seed 004: within
    # 10 calendar days after the month). Hourly: a run approved late is picked up within the hour; a month already
    # issued costs one query. The e-mails go through the outbox below.
    "issue-monthly-documents": {
        "task": "billing.issue_monthly_documents",
        "schedule": crontab(minute=20),
        "options": {"expires": 50 * 60},
    },
    # The e-mails announcing monthly documents, reports and corrections (each commit also kicks one at once).
    "send-monthly-mail": {
        "task": "billing.send_monthly_mail",
        "schedule": crontab(minute="*/5"),
        "options": {"expires": 4 * 60},
    },
    # The monthly satisfaction survey (seeds 003, 004): hourly through the working day; on the first working day of
    # a month (in each partner's country) it opens the survey of the month that ended and e-mails the partners'
    # administrators, later runs retry e-mails that failed and send the one reminder; each step happens once.
    "satisfaction-survey": {
        "task": "billing.satisfaction_survey",
        "schedule": crontab(hour="9-17", minute=20),
        "options": {"expires": 50 * 60},
    },
    # Proves that beat and a worker are alive: a log line every minute.
    "heartbeat": {
        "task": "ketlogistic.core.tasks.heartbeat",
        "schedule": crontab(minute="*"),
        "options": {"expires": 55},
    },
    # Webhook deliveries that are due (each commit also kicks one at once; this catches retries and outages).
    "deliver-webhooks": {
        "task": "integrations.deliver_webhooks",
        "schedule": timedelta(seconds=15),
        "options": {"expires": 14},
    },
    # Pull connectors whose time has come (every N minutes, or daily at their local time).
    "run-due-connectors": {
        "task": "integrations.run_due_connectors",
        "schedule": crontab(minute="*"),
        "options": {"expires": 55},
    },
    # Our statuses back to the partners' CRMs (RetailCRM, Bitrix24): the outbox written with each status change.
    "push-crm-statuses": {
        "task": "integrations.push_crm_statuses",
        "schedule": timedelta(seconds=30),
        "options": {"expires": 29},
    },
    # Connector runs and statuses sent back to CRMs are kept 90 days.
    "forget-old-connector-runs": {
        "task": "integrations.forget_old_runs",
        "schedule": crontab(hour=4, minute=40),
        "options": {"expires": 60 * 60},
    },
    # Uploaded Excel files never imported are deleted after a week (they hold customers' phones).
    "forget-stale-uploads": {
        "task": "integrations.forget_stale_uploads",
        "schedule": crontab(hour=4, minute=30),
        "options": {"expires": 60 * 60},
    },
    # Large exports prepared by a worker are kept a day for their asker, then deleted with their files (names,
    # addresses): every hour, the ones past their time.
    "forget-expired-exports": {
        "task": "core.forget_expired_exports",
        "schedule": crontab(minute=50),
        "options": {"expires": 55 * 60},
    },
    # Stored idempotent replies are kept 48 hours.
    "purge-idempotency-keys": {
        "task": "integrations.purge_idempotency_keys",
        "schedule": crontab(hour=4, minute=0),
        "options": {"expires": 60 * 60},
    },
    # Supply transfers for the cities that ship today and tomorrow, drafted from demand before the shift.
    "plan-supply": {
        "task": "warehouses.plan_supply",
        "schedule": crontab(hour=5, minute=0),
        "options": {"expires": 60 * 60},
    },
    # On the 4th–6th of each month: goods without demand are proposed for the free return.
    "propose-monthly-returns": {
        "task": "warehouses.propose_monthly_returns",
        "schedule": crontab(hour=5, minute=30, day_of_month="4-6"),
        "options": {"expires": 60 * 60},
    },
    # Contract ends: tell partners their goods are gathered; storage charges after the 7 working days.
    "contract-end-daily": {
        "task": "warehouses.contract_end_daily",
        "schedule": crontab(hour=6, minute=0),
        "options": {"expires": 60 * 60},
    },
    # Every city's registry for tomorrow, from the cut-off on (later runs only add late agreements).
    "build-registries": {
        "task": "callcenter.build_registries",
        "schedule": crontab(minute="*/15"),
        "options": {"expires": 14 * 60},
    },
    # Orders called for a month without reaching the customer close as "not reached".
    "close-unreached": {
        "task": "callcenter.close_unreached",
        "schedule": crontab(hour=20, minute=0),
        "options": {"expires": 60 * 60},
    },
    # The partners' chats: members not told by e-mail of messages a while old (a look the broker lost, a mail
    # server that was down); each message also asks for its own look.
    "notify-partner-chats": {
        "task": "orders.notify_due_chats",
        "schedule": crontab(minute="*/5"),
        "options": {"expires": 4 * 60},
    },
    # Personal data of orders closed longer than the country's retention period is erased nightly.
    "erase-expired-personal-data": {
        "task": "orders.erase_expired_personal_data",
        "schedule": crontab(hour=3, minute=15),
        "options": {"expires": 60 * 60},
    },
    # Customers' SMS that are due: the outbox written with each change (each commit also kicks a sweep at once);
    # this catches retries with back-off, messages held for the morning, and a gateway's or Redis's outage.
    "send-sms": {
        "task": "integrations.send_sms",
        "schedule": timedelta(seconds=15),
        "options": {"expires": 14},
    },
    # HTTP gateways (Mobizon) are asked for the delivery status of the messages they accepted; SMPP's reports
    # arrive by themselves.
    "poll-sms-statuses": {
        "task": "integrations.poll_sms_statuses",
        "schedule": timedelta(minutes=2),
        "options": {"expires": 110},
    },
    # After the retention task erased an order's personal data, the texts of its SMS (name, address) go too; delivery
    # reports kept for an id no message carries are dropped.
    "forget-sms-data": {
        "task": "integrations.forget_sms_data",
        "schedule": crontab(hour=3, minute=45),
        "options": {"expires": 60 * 60},
    },
}

# Which queue each task goes to, by kind of work (`ketlogistic/core/queues.py` names the queues and the workers'
# groups; docs/OPERATIONS.md, «Queues and workers»). Every task is listed: a test fails on a task missing here, so a
# new one lands in a queue by decision, never by default. Beat's entries and `broker.kick` go through the same routes
# (none of them names a queue).
QUEUE_OF_TASK = {
    # the partners' webhooks: each commit kicks a delivery, beat every 15 s
    "integrations.deliver_webhooks": queues.WEBHOOKS,
    # messages to people and to the partners' systems
    "integrations.send_sms": queues.MESSAGES,
    "integrations.poll_sms_statuses": queues.MESSAGES,
    "integrations.push_crm_statuses": queues.MESSAGES,
    "integrations.run_due_connectors": queues.MESSAGES,
    "integrations.run_connector": queues.MESSAGES,
    "orders.notify_chat": queues.MESSAGES,
    "orders.notify_due_chats": queues.MESSAGES,
    "billing.send_monthly_mail": queues.MESSAGES,
    "billing.satisfaction_survey": queues.MESSAGES,
    # the call center, and orders going on to the logists' queue (goods back on a shelf release the orders waiting)
    "callcenter.build_registries": queues.CALLING,
    "callcenter.close_unreached": queues.CALLING,
    "warehouses.release_waiting": queues.CALLING,
    # billing: minutes at volume
    "billing.weekly_charge_run": queues.BILLING,
    "billing.resume_approvals": queues.BILLING,
    "billing.compute_stale_drafts": queues.BILLING,
    "billing.issue_monthly_documents": queues.BILLING,
    # reports, exports and Excel uploads: a user's progress bar, seconds to minutes
    "orders.build_export": queues.REPORTS,
    "billing.build_statement_export": queues.REPORTS,
    "integrations.check_excel_upload": queues.REPORTS,
    "integrations.import_excel_upload": queues.REPORTS,
    # the rest
    "ketlogistic.core.tasks.heartbeat": queues.DEFAULT,
    "core.forget_expired_exports": queues.DEFAULT,
    "orders.erase_expired_personal_data": queues.DEFAULT,
    "integrations.forget_old_runs": queues.DEFAULT,
    "integrations.purge_idempotency_keys": queues.DEFAULT,
    "integrations.forget_stale_uploads": queues.DEFAULT,
    "integrations.forget_sms_data": queues.DEFAULT,
    "warehouses.plan_supply": queues.DEFAULT,
    "warehouses.propose_monthly_returns": queues.DEFAULT,
    "warehouses.contract_end_daily": queues.DEFAULT,
}
CELERY_TASK_ROUTES = {task: {"queue": queue} for task, queue in QUEUE_OF_TASK.items()}
CELERY_TASK_DEFAULT_QUEUE = queues.DEFAULT
# Declared, so that a worker started without `-Q` consumes every queue (not only the default one).
CELERY_TASK_QUEUES = [Queue(name, Exchange(name), routing_key=name) for name in queues.QUEUES]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "integrations.api.authentication.ApiKeyAuthentication",
    ],
    "EXCEPTION_HANDLER": "integrations.api.errors.api_exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "api_key": env_str("API_RATE", "1200/min"),
        "api_key_bulk": env_str("API_BULK_RATE", "120/min"),
    },
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
}

# Warehouses: what the partner pays beyond the per-order tariff (billing's tariff lines may override).
STORAGE_FEE_PER_DAY = {
    "KZT": env_str("STORAGE_FEE_PER_DAY_KZT", "2000"),
    "KGS": env_str("STORAGE_FEE_PER_DAY_KGS", "350"),
}
# An unscheduled return is charged at the transport's real cost, which the warehouse enters (seed 000: «с оплатой
# транспортных расходов»; no amount is named): this is only the suggestion shown beside it, none when unset.
UNSCHEDULED_RETURN_FEE = {
    "KZT": env_str("UNSCHEDULED_RETURN_FEE_KZT", ""),
    "KGS": env_str("UNSCHEDULED_RETURN_FEE_KGS", ""),
}
# The partners' chats: a member is told by e-mail of new messages once the chat has been quiet this long (a burst of
# messages is one letter).
CHAT_EMAIL_QUIET_SECONDS = env_int("CHAT_EMAIL_QUIET_SECONDS", 120)
# Goods with no order in a city for this many days are proposed for the monthly free return (4th–6th).
RETURN_IDLE_DAYS = env_int("RETURN_IDLE_DAYS", 30)

# Where people reach this system: the links in e-mails (a month's documents in the cabinet) start with it.
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")
# The company's requisites on the monthly documents (the act of services rendered, the invoice): the seller. Issued
# documents keep the requisites they were issued with; an empty value prints as a dash.
COMPANY_REQUISITES = {
    "name": env_str("COMPANY_LEGAL_NAME", "ТОО «KetLogistic»"),
    "bin": env_str("COMPANY_BIN", ""),
    "address": env_str("COMPANY_ADDRESS", "Казахстан, Астана"),
    "bank": env_str("COMPANY_BANK", ""),
    "iban": env_str("COMPANY_IBAN", ""),
    "bic": env_str("COMPANY_BIC", ""),
    "vat_note": env_str("COMPANY_VAT_NOTE", "Без НДС"),
    "signer": env_str("COMPANY_SIGNER", ""),
}

# Call center: how long a logist keeps an order taken from the queue; the daily registry cut-off
# (local time of each city); telephony ("dev" records calls locally, "http" talks to a cloud PBX).
CALL_CLAIM_MINUTES = env_int("CALL_CLAIM_MINUTES", 15)
# «Возвратник» (seed 001, the operator script): a customer with this many refusals and returns that were the
# customer's own fault, closed within the last RETURNER_WINDOW_DAYS days, across every partner.
RETURNER_REFUSALS = env_int("RETURNER_REFUSALS", 2)
RETURNER_WINDOW_DAYS = env_int("RETURNER_WINDOW_DAYS", 90)
# How long a process keeps the working calendars it read (the queue reads them on every pull, intake for every
# order); the admin's changes are seen at once by its own process, by the others within this time.
WORKING_CALENDAR_CACHE_SECONDS = env_int("WORKING_CALENDAR_CACHE_SECONDS", 60)
# How long a process keeps the reference data it read (the city directory every order is checked against:
# ketlogistic/core/kept.py); a change is seen at once by the process that made it, by the others within this time.
REFERENCE_CACHE_SECONDS = env_int("REFERENCE_CACHE_SECONDS", 60)
REGISTRY_CUTOFF = env_str("REGISTRY_CUTOFF", "17:00")
# the public tracking page: wrong guesses allowed per client address in the window (none per order number: a
# stranger's guesses would lock the real customer out)
TRACKING_WINDOW_MINUTES = env_int("TRACKING_WINDOW_MINUTES", 60)
TRACKING_FAILURES_PER_CLIENT = env_int("TRACKING_FAILURES_PER_CLIENT", 20)
TRACKING_CLIENT_IP_HEADER = env_str("TRACKING_CLIENT_IP_HEADER", "")
# requests a customer may send through the tracking links of their SMS (a call back, another day) per client address
# in the same window: the link must not become a way to flood the logists' queue
TRACKING_LINK_POSTS_PER_CLIENT = env_int("TRACKING_LINK_POSTS_PER_CLIENT", 10)
# Our address as customers reach it, without a trailing slash: the links in their SMS start with it (empty: the SMS
# carry no link). The dev server's by default; production reads it from the environment only.
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
# the monthly satisfaction survey: working days after it was asked before the one reminder goes (billing/surveys.py)
SURVEY_REMIND_AFTER_WORKING_DAYS = env_int("SURVEY_REMIND_AFTER_WORKING_DAYS", 3)
# how many days the link in an SMS opens the order's tracking page (delivery/tracking_links.py)
SMS_LINK_DAYS = env_int("SMS_LINK_DAYS", 30)
TELEPHONY_BACKEND = env_str("TELEPHONY_BACKEND", "dev")
TELEPHONY_PBX_URL = env_str("TELEPHONY_PBX_URL", "")
TELEPHONY_API_KEY = env_str("TELEPHONY_API_KEY", "")
TELEPHONY_WEBHOOK_SECRET = env_str("TELEPHONY_WEBHOOK_SECRET", "")
TELEPHONY_CALLBACK_BASE_URL = env_str("TELEPHONY_CALLBACK_BASE_URL", "")

# The API: request bodies beyond this are refused with 413 (1 000 orders fit in about 1.5 MB).
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 8 * 1024 * 1024)
# Outbound calls to partner systems (webhooks, connectors): https to public addresses only, unless allowed.
INTEGRATIONS_ALLOW_HTTP = env_bool("INTEGRATIONS_ALLOW_HTTP", False)
INTEGRATIONS_ALLOW_PRIVATE_HOSTS = env_bool("INTEGRATIONS_ALLOW_PRIVATE_HOSTS", False)
# Every outbound call ends at an overall deadline (seconds, however the answer trickles in) and keeps at most
# so many bytes of the answer: a connector's answer beyond its cap fails the run (5 000 orders fit in 4 MB),
# a webhook receiver's answer is only logged, so a few KB are read. Partners are told "answer within 10 s".
INTEGRATIONS_CONNECTOR_DEADLINE_SECONDS = env_int("INTEGRATIONS_CONNECTOR_DEADLINE_SECONDS", 30)
INTEGRATIONS_CONNECTOR_MAX_BYTES = env_int("INTEGRATIONS_CONNECTOR_MAX_BYTES", 4 * 1024 * 1024)
INTEGRATIONS_WEBHOOK_DEADLINE_SECONDS = env_int("INTEGRATIONS_WEBHOOK_DEADLINE_SECONDS", 10)
INTEGRATIONS_WEBHOOK_MAX_BYTES = env_int("INTEGRATIONS_WEBHOOK_MAX_BYTES", 4096)
# A delivery worker claims due webhook rows for this long; each row's claim is renewed (and checked to be still
# this worker's) right before it is sent, so it must exceed the webhook deadline.
INTEGRATIONS_WEBHOOK_CLAIM_SECONDS = env_int("INTEGRATIONS_WEBHOOK_CLAIM_SECONDS", 120)

# SMS to customers (issue 19): which gateway takes them. "log" (the default) writes each SMS to the log without its
# number and sends nothing; "smpp" an operator's or aggregator's SMSC; "mobizon" the Mobizon HTTP API. README → «SMS
# gateways»; integrations/sms_gateways.py.
SMS_GATEWAY = env_str("SMS_GATEWAY", "log")
SMPP_HOST = env_str("SMPP_HOST", "")
SMPP_PORT = env_int("SMPP_PORT", 2775)
SMPP_SYSTEM_ID = env_str("SMPP_SYSTEM_ID", "")
SMPP_PASSWORD = env_str("SMPP_PASSWORD", "")  # a secret: never logged
SMPP_SYSTEM_TYPE = env_str("SMPP_SYSTEM_TYPE", "")
# The sender the customer sees: an alphanumeric name registered with the operator (TON 5, NPI 0 by default)
SMPP_SOURCE_ADDR = env_str("SMPP_SOURCE_ADDR", "")
SMPP_SOURCE_TON = env_int("SMPP_SOURCE_TON", 5)
SMPP_SOURCE_NPI = env_int("SMPP_SOURCE_NPI", 0)
# submit_sm sent before their answers come back, at most (the SMSC's agreed window); seconds for an answer
SMPP_WINDOW = env_int("SMPP_WINDOW", 10)
SMPP_TIMEOUT = env_int("SMPP_TIMEOUT", 10)
# the agreed rate in submits a second (0: as fast as the window allows)
SMPP_MAX_PER_SECOND = env_int("SMPP_MAX_PER_SECOND", 0)
# the sending connection binds as a transmitter (receipts then all go to `manage.py sms_receiver`, bound as a
# receiver); "transceiver" for an SMSC that allows no other bind
SMPP_SEND_BIND = env_str("SMPP_SEND_BIND", "transmitter")
SMPP_RECEIVE_BIND = env_str("SMPP_RECEIVE_BIND", "receiver")
SMPP_THROTTLE_RETRIES = env_int("SMPP_THROTTLE_RETRIES", 3)
SMPP_THROTTLE_PAUSE = float(env_str("SMPP_THROTTLE_PAUSE", "0.2"))
SMPP_ENQUIRE_LINK_SECONDS = env_int("SMPP_ENQUIRE_LINK_SECONDS", 30)
# the zone of the receipts' "done date" (the SMSC's clock)
SMPP_RECEIPT_TIME_ZONE = env_str("SMPP_RECEIPT_TIME_ZONE", "Asia/Almaty")
MOBIZON_URL = env_str("MOBIZON_URL", "https://api.mobizon.kz")
MOBIZON_API_KEY = env_str("MOBIZON_API_KEY", "")  # a secret: masked in every log line and error
MOBIZON_SENDER = env_str("MOBIZON_SENDER", "")
MOBIZON_DEADLINE_SECONDS = env_int("MOBIZON_DEADLINE_SECONDS", 10)
MOBIZON_CONCURRENCY = env_int("MOBIZON_CONCURRENCY", 4)
MOBIZON_TIME_ZONE = env_str("MOBIZON_TIME_ZONE", "Asia/Almaty")
# The customers' SMS outbox (integrations/sms.py): the quiet hours per country in the customer's own zone (an SMS
# due at night is held until their end; "off" for none), our line the customers call back, and the sweep's batch
# and claim (a batch must be sent within the claim, or another sweep may take its rows again).
SMS_QUIET_HOURS = {
    "KZ": env_str("SMS_QUIET_HOURS_KZ", "21:00-09:00"),
    "KG": env_str("SMS_QUIET_HOURS_KG", "21:00-09:00"),
}
SMS_HOTLINE = {
    "KZ": env_str("SMS_HOTLINE_KZ", "8 800 080 47 47"),
    "KG": env_str("SMS_HOTLINE_KG", "+996 312 98 47 47"),
}
# What one SMS part costs the company at the aggregator, per country, in its currency (KZT, KGS): the SMS costs
# report (`/integrations/sms/costs/`) multiplies the parts sent by it. What a partner pays for its SMS is a tariff
# line («SMS, per part»), none by default: SMS are included.
SMS_SEGMENT_PRICE = {
    "KZ": env_decimal("SMS_SEGMENT_PRICE_KZ", "12.00"),
    "KG": env_decimal("SMS_SEGMENT_PRICE_KG", "2.50"),
}
SMS_SEND_BATCH = env_int("SMS_SEND_BATCH", 500)
SMS_CLAIM_SECONDS = env_int("SMS_CLAIM_SECONDS", 300)

SPECTACULAR_SETTINGS = {
    "TITLE": "KetLogistic API",
    "DESCRIPTION": "REST API for partner CRMs: orders, statuses, products (and stock and balance as they come). "
    "Authenticate with `Authorization: Api-Key <key>` or `Authorization: Bearer <key>`; keys are created in the "
    "cabinet under Integrations. Times are RFC 3339 in UTC with `Z` and six fractional digits "
    "(`2026-12-07T05:58:00.000000Z`); dates are `YYYY-MM-DD`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Metrics (docs/OPERATIONS.md → «Metrics and alerts»): `GET /metrics` answers only `Authorization: Bearer
# <METRICS_TOKEN>`; unset, it answers 404 to everyone. Under gunicorn with several workers PROMETHEUS_MULTIPROC_DIR
# (read by prometheus-client from the environment itself) names the directory the workers share their figures in.
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
# Errors to Sentry (ketlogistic/core/sentry.py: Django and Celery, phone numbers masked before anything leaves).
SENTRY_DSN = env_str("SENTRY_DSN", "")
if SENTRY_DSN:
    init_sentry(
        SENTRY_DSN, environment=env_str("SENTRY_ENVIRONMENT", ""), release=env_str("SENTRY_RELEASE", "")
    )

# Every process logs in one zone, the project's (TIME_ZONE, Asia/Almaty: Django sets the process's TZ to it), with
# the offset shown: «2026-12-07 17:03:07+0500». Celery logs through this config (`ketlogistic/celery.py`); gunicorn
# shows the offset itself and gets TZ from `make run` (devstack) and docker-compose.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "datefmt": "%Y-%m-%d %H:%M:%S%z",
        },
    },
    "filters": {
        "redact_phones": {"()": "ketlogistic.core.redaction.RedactPhonesFilter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_phones"]},
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
    },
}
