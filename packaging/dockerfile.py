#!/usr/bin/env python3
"""The Dockerfile, read without Docker, for packaging/image_test.sh.

  dockerfile.py stage-script DOCKERFILE STAGE DIR
      prints a shell script of STAGE's ARG defaults and RUN instructions with
      the stage's own folders (/out, /state, /pagoda) moved under DIR.
  dockerfile.py compare DOCKERFILE DIR SOURCE ROOTFS_LIST CONFIG VERSION COMMIT
      compares the files the last stage copies (with the runtime stage's
      output in DIR, the build stage's /src being SOURCE and the rest of it
      this machine) and its configuration with packaging/image's rootfs.list
      and the image config that skopeo printed; exits 1 naming each
      difference.
"""
import json
import os
import re
import shlex
import sys

STAGE_DIRS = re.compile(r"(?<![\w/.$-])/(out|state|pagoda)\b")


def instructions(path):
    """(KEYWORD, ARGUMENTS) per instruction, continuation lines joined."""
    out, pending = [], ""
    for raw in open(path, encoding="utf-8"):
        line = raw.rstrip("\n")
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + "\n"
            continue
        text = (pending + line).strip()
        pending = ""
        keyword, _, rest = text.partition(" ")
        out.append((keyword.upper(), rest.strip()))
    return out


def stages(path):
    """[(name, [(KEYWORD, ARGUMENTS)])] in order; the name is the AS name."""
    result = []
    for keyword, rest in instructions(path):
        if keyword == "FROM":
            words = rest.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else words[0]
            result.append((name, []))
        elif result:
            result[-1][1].append((keyword, rest))
    return result


def stage(path, name):
    for stage_name, body in stages(path):
        if stage_name == name:
            return body
    sys.exit(f"{path}: no stage {name}")


def stage_script(dockerfile, name, folder):
    lines = []
    for keyword, rest in stage(dockerfile, name):
        if keyword == "ARG" and "=" in rest:
            key, _, value = rest.partition("=")
            lines.append(f"{key}={shlex.quote(' '.join(shlex.split(value)))}")
        elif keyword == "RUN":
            # A RUN's lines are one shell line, as Docker passes them to sh -c.
            command = rest.replace("\n", " ")
            lines.append(STAGE_DIRS.sub(lambda m: f"{folder}/{m.group(1)}", command))
    print("\n".join(lines))


def files_under(path, target):
    """{target path: source path} for a file, or for each file under a folder."""
    if os.path.isdir(path) and not os.path.islink(path):
        found = {}
        for parent, dirs, files in os.walk(path):
            for entry in files + [d for d in dirs if os.path.islink(os.path.join(parent, d))]:
                full = os.path.join(parent, entry)
                found[os.path.join(target, os.path.relpath(full, path))] = full
        return found
    return {target: path}


def copied_files(dockerfile, folder, source):
    """The files the last stage copies, and {folder: owner} of the folders."""
    declared, folders = set(), {}
    _, body = stages(dockerfile)[-1]
    for keyword, rest in body:
        if keyword != "COPY":
            continue
        words = shlex.split(rest)
        flags = {w.split("=")[0]: w.split("=", 1)[1] for w in words if w.startswith("--")}
        paths = [w for w in words if not w.startswith("--")]
        owner = flags.get("--chown", "0:0")
        for src in paths[:-1]:
            dst = paths[-1]
            if dst.endswith("/") and not src.endswith("/"):
                dst = os.path.join(dst, os.path.basename(src))
            origin = flags.get("--from")
            if origin is None:
                real = os.path.join(source, src)
            elif origin == "runtime" or STAGE_DIRS.match(src):
                real = folder + src
            elif src.startswith("/src/"):
                real = os.path.join(source, src[len("/src/"):])
            else:
                real = src
            if not os.path.lexists(real):
                sys.exit(f"Dockerfile: COPY {src}: nothing there ({real})")
            declared.update(os.path.normpath(p) for p in files_under(real, dst.rstrip("/") or "/"))
            if os.path.isdir(real):
                folders[os.path.normpath(dst)] = owner
    return declared, folders


def image_files(rootfs_list):
    files, owners = set(), {}
    for line in open(rootfs_list, encoding="utf-8"):
        kind, _, owner, path = line.rstrip("\n").split(" ", 3)
        owners[path] = owner
        if kind in ("f", "l"):
            files.add(path)
    return files, owners


def config_of(dockerfile):
    """What the last stage says of how the image runs."""
    said = {"Env": {}, "Labels": {}}
    for keyword, rest in stages(dockerfile)[-1][1]:
        if keyword in ("ENV", "LABEL"):
            for pair in shlex.split(rest.replace("\n", " ")):
                key, _, value = pair.partition("=")
                said["Env" if keyword == "ENV" else "Labels"][key] = value
        elif keyword in ("ENTRYPOINT", "CMD"):
            said[keyword.capitalize() if keyword == "CMD" else "Entrypoint"] = json.loads(rest)
        elif keyword == "USER":
            said["User"] = rest
        elif keyword == "WORKDIR":
            said["WorkingDir"] = rest
        elif keyword == "VOLUME":
            said["Volumes"] = sorted(rest.split())
        elif keyword == "EXPOSE":
            said["ExposedPorts"] = sorted(rest.split())
    return said


def compare(dockerfile, folder, source, rootfs_list, config_json, version, commit):
    problems = []
    declared, folders = copied_files(dockerfile, folder, source)
    files, owners = image_files(rootfs_list)
    for path in sorted(files - declared):
        problems.append(f"in the image, not in the Dockerfile: {path}")
    for path in sorted(declared - files):
        problems.append(f"in the Dockerfile, not in the image: {path}")
    for path, owner in folders.items():
        if path in owners and owners[path] != owner:
            problems.append(f"{path}: owned by {owners[path]} in the image, {owner} in the Dockerfile")

    config = json.load(open(config_json, encoding="utf-8"))["config"]
    said = config_of(dockerfile)
    env = dict(e.split("=", 1) for e in config.get("Env", []))
    for key, value in said["Env"].items():
        if env.get(key) != value:
            problems.append(f"ENV {key}: {value!r} in the Dockerfile, {env.get(key)!r} in the image")
    labels = config.get("Labels", {})
    for key, value in said["Labels"].items():
        if labels.get(key) != value:
            problems.append(f"LABEL {key}: {value!r} in the Dockerfile, {labels.get(key)!r} in the image")
    for key, want in (("org.opencontainers.image.version", version),
                      ("org.opencontainers.image.revision", commit)):
        if labels.get(key) != want:
            problems.append(f"label {key} is {labels.get(key)!r}, not {want!r}")
    for key in ("Entrypoint", "Cmd", "User", "WorkingDir"):
        if config.get(key) != said.get(key):
            problems.append(f"{key}: {said.get(key)!r} in the Dockerfile, {config.get(key)!r} in the image")
    for key in ("Volumes", "ExposedPorts"):
        if sorted(config.get(key, {})) != said.get(key, []):
            problems.append(f"{key}: {said.get(key)} in the Dockerfile, {sorted(config.get(key, {}))} in the image")
    for problem in problems:
        print(f"FAIL: {problem}")
    if problems:
        sys.exit(1)
    print(f"the Dockerfile and the image agree on {len(files)} files and their configuration")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "stage-script":
        stage_script(*sys.argv[2:])
    elif len(sys.argv) == 9 and sys.argv[1] == "compare":
        compare(*sys.argv[2:])
    else:
        sys.exit(__doc__)
