#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopboard.settings")
    from django.core.management import execute_from_command_line

    from shopboard.embedded_db import embedded_database

    # Without DATABASE_URL, the command runs on the embedded PostgreSQL (var/postgres/).
    with embedded_database():
        execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
