"""Django's ``migrate``, with nodes that start together taking turns.

Every web node migrates as it starts (``deploy/stack.py --setup``). Two migrating one
PostgreSQL database at the same moment would both try to create the same tables; a
session-level advisory lock makes the second wait, then find nothing left to do.
(SQLite is one machine's, and serialises writers itself.)
"""

from __future__ import annotations

from django.core.management.commands.migrate import Command as DjangoMigrate
from django.db import connections

LOCK = 0x534F5649  # any constant of ours: "SOVI"


class Command(DjangoMigrate):
    help = DjangoMigrate.help + " Processes migrating one PostgreSQL database take turns."

    def handle(self, *args, **options):
        connection = connections[options["database"]]
        if connection.vendor != "postgresql":
            return super().handle(*args, **options)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [LOCK])
        try:
            return super().handle(*args, **options)
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK])
