#!/usr/bin/env python3
"""Turn a Docker/Podman seccomp profile (containers-common's /usr/share/containers/seccomp.json,
moby's default.json) into the OCI runtime-spec form that runc and crun load (`linux.seccomp`),
exactly as Podman and Docker resolve it for a container: only the rules whose `includes` /
`excludes` match the container's capabilities, architecture and kernel are kept.

usage: seccomp-oci.py PROFILE CAPS_JSON > seccomp.json
CAPS_JSON: the container's capabilities, e.g. '["CAP_CHOWN", "CAP_KILL"]'.
"""
import json
import os
import platform
import sys

ARCH = {"x86_64": "SCMP_ARCH_X86_64", "aarch64": "SCMP_ARCH_AARCH64"}
# `includes.arches` / `excludes.arches` use Go's names for the architecture.
GOARCH = {"x86_64": "amd64", "aarch64": "arm64"}


def kernel_at_least(want):
    have = [int(x) for x in platform.release().split("-")[0].split(".")[:2]]
    return have >= [int(x) for x in want.split(".")[:2]]


def applies(rule, caps, arch):
    inc, exc = rule.get("includes") or {}, rule.get("excludes") or {}
    if inc.get("caps") and not set(inc["caps"]) <= caps:
        return False
    if inc.get("arches") and GOARCH[platform.machine()] not in inc["arches"]:
        return False
    if inc.get("minKernel") and not kernel_at_least(inc["minKernel"]):
        return False
    if exc.get("caps") and set(exc["caps"]) & caps:
        return False
    if exc.get("arches") and GOARCH[platform.machine()] in exc["arches"]:
        return False
    return True


def main():
    profile = json.load(open(sys.argv[1]))
    caps = set(json.loads(sys.argv[2]))
    arch = ARCH[platform.machine()]
    out = {"defaultAction": profile["defaultAction"]}
    if "defaultErrnoRet" in profile:
        out["defaultErrnoRet"] = profile["defaultErrnoRet"]
    for a in profile.get("archMap") or []:
        if a["architecture"] == arch:
            out["architectures"] = [arch] + a.get("subArchitectures", [])
    out["syscalls"] = []
    for r in profile["syscalls"]:
        if not applies(r, caps, arch):
            continue
        names = r.get("names") or [r["name"]]
        rule = {"names": names, "action": r["action"]}
        if r.get("args"):
            rule["args"] = r["args"]
        if r.get("errnoRet") is not None:
            rule["errnoRet"] = r["errnoRet"]
        out["syscalls"].append(rule)
    json.dump(out, sys.stdout, indent=1)


if __name__ == "__main__":
    sys.exit(main())
