"""Stops the build instance the way a provisioner of a
disable_stop_instance template would, through the EC2 API of the test-bed.

The test-bed's "instance" is a local sshd, so `shutdown -h now` on it is not
an option; boto3 from the test-bed's own venv (moto needs it) is. The
endpoint and credentials come from the bed's environment (AWS_ENDPOINT_URL,
AWS_ACCESS_KEY_ID...), which packer passes on to shell-local.
"""
import os
import sys
from urllib.parse import urlparse

import boto3

endpoint = os.environ["AWS_ENDPOINT_URL"]
host = urlparse(endpoint).hostname
if not (host == "localhost" or host == "::1" or host.startswith("127.")):
    sys.exit(f"refusing a non-loopback endpoint: {endpoint}")
instance_id = sys.argv[1]
ec2 = boto3.client("ec2", region_name=sys.argv[2], endpoint_url=endpoint)
ec2.stop_instances(InstanceIds=[instance_id])
print(f"provisioner stopped {instance_id}")
