#!/bin/sh
# bakery e2e user data: the test reads it back with DescribeInstanceAttribute.
echo "bakery-e2e-user-data" > /var/tmp/bakery-e2e-user-data
