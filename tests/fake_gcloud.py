"""A fake ``gcloud`` for the deploy tests: answers like gcloud from a JSON world, records each call.

The tests put a ``gcloud`` wrapper that runs this file first on PATH. The world (a JSON file named
by ``FAKE_GCLOUD_STATE``) holds the account, projects, enabled APIs, service accounts, secrets,
queues and functions; each call reads it, answers as gcloud would (exit status, stdout of
describe/list/access, gcloud's error messages on stderr) and writes it back. Secrets are kept by
name, each with its versions (value and state) and IAM policy, so the shared secret
(``bz-shared-secret``) and the task key (``bz-task-key``) are modelled alike, as Secret Manager
does. Each call is appended to ``FAKE_GCLOUD_LOG`` as one JSON line: the arguments, whether stdin
held data (never the data: that is a secret's value), and for a deploy the env-vars file's
content and mode.

``failures`` in the world makes the next matching command fail with a given stderr, as gcloud
does when a permission is missing or billing is off.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from typing import Any

import yaml

World = dict[str, Any]
NOT_LOGGED_IN = (
    "ERROR: ({group}) You do not currently have an active account selected.\n"
    "Please run:\n\n  $ gcloud auth login\n\nto obtain new credentials.\n"
)


class Fail(Exception):
    """gcloud's error: the message for stderr, exit status 1."""


def parse(argv: list[str]) -> tuple[list[str], dict[str, str]]:
    """Positional words and ``--flag=value`` flags (a bare flag is "true")."""
    words, flags = [], {}
    for arg in argv:
        if arg.startswith("--"):
            name, _, value = arg.partition("=")
            flags[name] = value if "=" in arg else "true"
        else:
            words.append(arg)
    return words, flags


def policy_add(policy: dict[str, Any], flags: dict[str, str]) -> None:
    """add-iam-policy-binding: the member joins the role's binding."""
    bindings = policy.setdefault("bindings", [])
    for binding in bindings:
        if binding["role"] == flags["--role"]:
            if flags["--member"] not in binding["members"]:
                binding["members"].append(flags["--member"])
            return
    bindings.append({"role": flags["--role"], "members": [flags["--member"]]})


def policy_remove(policy: dict[str, Any], flags: dict[str, str]) -> None:
    """remove-iam-policy-binding: the member leaves the role's binding (gcloud fails if absent)."""
    for binding in policy.get("bindings", []):
        if binding["role"] == flags["--role"] and flags["--member"] in binding["members"]:
            binding["members"].remove(flags["--member"])
            return
    raise Fail("ERROR: Policy binding with the specified principal, role and condition not found")


def duration(value: str) -> str:
    """A duration as the Cloud Tasks API gives it back ("10s")."""
    number = float(value.rstrip("smhd"))
    scale = {"s": 1, "m": 60, "h": 3600, "d": 86400}.get(value[-1], 1)
    seconds = number * scale
    return f"{seconds:g}s"


def queue_settings(queue: dict[str, Any], flags: dict[str, str]) -> None:
    """Apply create/update flags to a queue, in the shape describe shows."""
    rates, retry = queue.setdefault("rateLimits", {}), queue.setdefault("retryConfig", {})
    if "--max-concurrent-dispatches" in flags:
        rates["maxConcurrentDispatches"] = int(flags["--max-concurrent-dispatches"])
    if "--max-dispatches-per-second" in flags:
        rates["maxDispatchesPerSecond"] = float(flags["--max-dispatches-per-second"])
    rates.setdefault("maxBurstSize", 100)
    for flag, key in (("--max-attempts", "maxAttempts"), ("--max-doublings", "maxDoublings")):
        if flag in flags:
            retry[key] = int(flags[flag])
    for flag, key in (("--min-backoff", "minBackoff"), ("--max-backoff", "maxBackoff")):
        if flag in flags:
            retry[key] = duration(flags[flag])


def answer(world: World, words: list[str], flags: dict[str, str], stdin: str) -> str:
    """What gcloud prints on stdout for the command; raises Fail for its errors."""
    project = flags.get("--project", "")
    key = " ".join(words[:3])
    if words[:2] == ["auth", "list"]:
        return (world.get("account") or "") + "\n"
    if words[:2] == ["projects", "describe"]:
        if words[2] not in world["projects"]:
            raise Fail(
                f"ERROR: (gcloud.projects.describe) [{world['account']}] does not have "
                f"permission to access projects instance [{words[2]}] (or it may not exist): "
                "The caller does not have permission\n"
            )
        return words[2] + "\n"
    if words[:2] == ["services", "list"]:
        return "".join(f"{api}\n" for api in world["enabled"])
    if words[:2] == ["services", "enable"]:
        world["enabled"] = sorted(set(world["enabled"]) | set(words[2:]))
        return ""
    if words[:2] == ["iam", "service-accounts"]:
        return service_accounts(world, words, flags, project)
    if words[0] == "secrets":
        return secrets(world, words, flags, stdin)
    if words[:2] == ["tasks", "queues"]:
        return queues(world, words, flags, project)
    if words[0] == "functions":
        return functions(world, words, flags, project)
    raise Fail(f"ERROR: fake gcloud does not know {key!r}\n")


def service_accounts(world: World, words: list[str], flags: dict[str, str], project: str) -> str:
    accounts, verb = world["accounts"], words[2]
    if verb == "create":
        email = f"{words[3]}@{project}.iam.gserviceaccount.com"
        if email in accounts:
            raise Fail(f"ERROR: (gcloud.iam.service-accounts.create) ALREADY_EXISTS: {email}\n")
        accounts[email] = {"email": email, "policy": {}}
        return ""
    email = words[3]
    if email not in accounts:
        raise Fail(
            f"ERROR: (gcloud.iam.service-accounts.{verb}) NOT_FOUND: Unknown service account\n"
        )
    if verb == "describe":
        return json.dumps({"email": email})
    if verb == "get-iam-policy":
        return json.dumps(accounts[email]["policy"])
    if verb == "add-iam-policy-binding":
        policy_add(accounts[email]["policy"], flags)
        return json.dumps(accounts[email]["policy"])
    if verb == "delete":
        del accounts[email]
        return ""
    raise Fail(f"ERROR: fake gcloud does not know iam service-accounts {verb}\n")


def secrets(world: World, words: list[str], flags: dict[str, str], stdin: str) -> str:
    store = world["secrets"]
    if words[1] == "versions":
        return secret_versions(store, words, flags, stdin)
    verb, name = words[1], words[2]
    if verb == "create":
        if name in store:
            raise Fail(f"ERROR: (gcloud.secrets.create) ALREADY_EXISTS: Secret [{name}]\n")
        if not stdin:
            raise Fail("ERROR: (gcloud.secrets.create) no data on stdin\n")
        store[name] = {"versions": [{"state": "ENABLED", "data": stdin}], "policy": {}}
        return ""
    if name not in store:
        raise Fail(
            f"ERROR: (gcloud.secrets.{verb}) NOT_FOUND: Secret "
            f"[projects/123/secrets/{name}] not found or has no versions.\n"
        )
    secret = store[name]
    if verb == "describe":
        return json.dumps({"name": f"projects/123/secrets/{name}"})
    if verb == "get-iam-policy":
        return json.dumps(secret["policy"])
    if verb == "add-iam-policy-binding":
        policy_add(secret["policy"], flags)
        return json.dumps(secret["policy"])
    if verb == "remove-iam-policy-binding":
        policy_remove(secret["policy"], flags)
        return json.dumps(secret["policy"])
    if verb == "delete":
        del store[name]
        return ""
    raise Fail(f"ERROR: fake gcloud does not know secrets {verb}\n")


def secret_versions(store: World, words: list[str], flags: dict[str, str], stdin: str) -> str:
    verb = words[2]
    name = flags.get("--secret") or words[3]
    if name not in store:
        raise Fail(f"ERROR: (gcloud.secrets.versions.{verb}) NOT_FOUND: Secret [{name}]\n")
    versions = store[name]["versions"]
    if verb == "add":
        if not stdin:
            raise Fail("ERROR: (gcloud.secrets.versions.add) no data on stdin\n")
        versions.append({"state": "ENABLED", "data": stdin})
        return ""
    if verb == "list":
        return json.dumps(
            [
                {"name": f"projects/123/secrets/{name}/versions/{n}", "state": v["state"]}
                for n, v in reversed(list(enumerate(versions, 1)))
            ]
        )
    if verb == "access":
        enabled = [v for v in versions if v["state"] == "ENABLED"]
        if words[3] != "latest" or not enabled:
            raise Fail("ERROR: (gcloud.secrets.versions.access) NOT_FOUND: no version\n")
        return str(versions[-1]["data"]) if versions[-1]["state"] == "ENABLED" else ""
    if verb == "disable":
        versions[int(words[3]) - 1]["state"] = "DISABLED"
        return ""
    raise Fail(f"ERROR: fake gcloud does not know secrets versions {verb}\n")


def queues(world: World, words: list[str], flags: dict[str, str], project: str) -> str:
    verb, name = words[2], words[3]
    path = f"projects/{project}/locations/{flags.get('--location')}/queues/{name}"
    store = world["queues"]
    if verb == "create":
        if name in world.get("recently_deleted_queues", []):
            raise Fail(
                "ERROR: (gcloud.tasks.queues.create) FAILED_PRECONDITION: The queue cannot be "
                "created because a queue with this name existed too recently.\n"
            )
        if path in store:
            raise Fail(f"ERROR: (gcloud.tasks.queues.create) ALREADY_EXISTS: {path}\n")
        store[path] = {"name": path, "state": "RUNNING", "policy": {}}
        queue_settings(store[path], flags)
        return ""
    if path not in store:
        raise Fail(
            f"ERROR: (gcloud.tasks.queues.{verb}) NOT_FOUND: Requested entity was not found.\n"
        )
    queue = store[path]
    if verb == "describe":
        return json.dumps({k: v for k, v in queue.items() if k != "policy"})
    if verb == "update":
        queue_settings(queue, flags)
        return ""
    if verb == "get-iam-policy":
        return json.dumps(queue["policy"])
    if verb == "add-iam-policy-binding":
        policy_add(queue["policy"], flags)
        return json.dumps(queue["policy"])
    if verb == "delete":
        del store[path]
        return ""
    raise Fail(f"ERROR: fake gcloud does not know tasks queues {verb}\n")


def functions(world: World, words: list[str], flags: dict[str, str], project: str) -> str:
    verb, name = words[1], words[2]
    region = flags.get("--region", "")
    path = f"projects/{project}/locations/{region}/functions/{name}"
    store = world["functions"]
    if verb == "deploy":
        with open(flags["--env-vars-file"], encoding="utf-8") as stream:
            env = yaml.safe_load(stream)
        if not all(isinstance(v, str) for v in env.values()):
            raise Fail("ERROR: (gcloud.functions.deploy) env-vars-file values must be strings\n")
        label, _, value = flags.get("--update-labels", "=").partition("=")
        url = world["url_format"].format(region=region, project=project, name=name)
        store[path] = {
            "name": path,
            "state": "ACTIVE",
            "environment": "GEN_2",
            "url": url,
            "labels": {"deployment-tool": "cli-gcloud", label: value},
            "serviceConfig": {
                "uri": f"https://{name}-abc123-ew.a.run.app",
                "environmentVariables": env,
                "serviceAccountEmail": flags.get("--service-account"),
            },
        }
        return ""
    if path not in store:
        raise Fail(f"ERROR: (gcloud.functions.{verb}) NOT_FOUND: Resource '{path}' was not found\n")
    if verb == "describe":
        return json.dumps(store[path])
    if verb == "delete":
        del store[path]
        return ""
    raise Fail(f"ERROR: fake gcloud does not know functions {verb}\n")


def injected_failure(world: World, words: list[str]) -> str | None:
    """The stderr of a failure the test asked for on this command, used up once."""
    for failure in world.get("failures", []):
        prefix = failure["command"].split()
        if words[: len(prefix)] == prefix and failure.get("times", 1) > 0:
            failure["times"] = failure.get("times", 1) - 1
            return str(failure["stderr"])
    return None


def record(argv: list[str], flags: dict[str, str], stdin: str) -> None:
    """One JSON line in the log: arguments, stdin presence, and the env-vars file if any."""
    entry: dict[str, Any] = {"argv": argv, "stdin": bool(stdin)}
    if "--env-vars-file" in flags:
        path = flags["--env-vars-file"]
        with open(path, encoding="utf-8") as stream:
            entry["env_file"] = {
                "path": path,
                "content": stream.read(),
                "mode": oct(stat.S_IMODE(os.stat(path).st_mode)),
            }
    with open(os.environ["FAKE_GCLOUD_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps(entry) + "\n")


def main(argv: list[str]) -> int:
    state = os.environ["FAKE_GCLOUD_STATE"]
    with open(state, encoding="utf-8") as stream:
        world: World = json.load(stream)
    words, flags = parse(argv)
    stdin = sys.stdin.read()
    record(argv, flags, stdin)
    status, stdout, stderr = 0, "", ""
    failure = injected_failure(world, words)
    if failure is not None:
        status, stderr = 1, failure
    elif not world.get("account") and words[:2] != ["auth", "list"]:
        status, stderr = 1, NOT_LOGGED_IN.format(group="gcloud." + ".".join(words[:3]))
    else:
        try:
            stdout = answer(world, words, flags, stdin)
        except Fail as error:
            status, stderr = 1, str(error)
    with open(state, "w", encoding="utf-8") as stream:
        json.dump(world, stream)
    sys.stdout.write(stdout)
    sys.stderr.write(stderr)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
