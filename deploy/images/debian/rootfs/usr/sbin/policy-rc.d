#!/bin/sh
# Container image: there is no init system, so package maintainer scripts must
# not try to start or restart services (exit 101 = "action forbidden").
exit 101
