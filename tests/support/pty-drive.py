#!/usr/bin/env python3
"""Run a command on a pseudo-terminal and drive it like a person at the keyboard.

    pty-drive.py STEPS_JSON -- COMMAND [ARG]...

STEPS_JSON is a list of steps, run in order:
  {"expect": REGEX, "timeout": SECONDS}   wait until the screen output (so far) matches REGEX
  {"send": TEXT}                           type TEXT (use "\\n" for Enter)
  {"choose": REGEX, "timeout": SECONDS}    wait for a menu line mentioning REGEX, shaped like
                                           "1) ...", "[2] ...", "3. ..." or "k: ...", and type
                                           its selector followed by Enter
  {"select": REGEX, "timeout": SECONDS}    wait for an arrow-key menu (choice lines after "> " for
                                           the highlighted one, "  " for the others) with a line
                                           mentioning REGEX, move to it with the arrow keys, type
                                           Enter
Each expect/choose/select looks only at output after the previous match. Afterwards it waits (bounded) for the command to exit and prints one JSON object on stdout:
  {"ok": bool, "exit_code": N|null, "output": "...", "failed_step": N|null, "error": "..."}
The child is killed if it is still running at the end. Exit status 0 unless the driver broke.
"""

import json
import os
import pty
import re
import select
import signal
import sys
import time

EXIT_WAIT_S = 30
MENU_LINE = r"^[ \t>*]*[\[(]?([0-9a-zA-Z])[\])\.:][ \t]+[^\n]*(?:{})"
# An arrow-key menu as first drawn: consecutive "  choice" lines and one "> choice" line.
ARROW_MENU = r"(?:^(?:>|[ ]) [^\n]*\n?)*^(?:>|[ ]) [^\n]*(?:{})[^\n]*\n?(?:^(?:>|[ ]) [^\n]*\n?)*"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def main():
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    steps = json.loads(sys.argv[1])
    argv = sys.argv[3:]

    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execvp(argv[0], argv)
        except OSError as error:
            os.write(2, f"pty-drive: cannot run {argv[0]}: {error}\n".encode())
        os._exit(127)

    output = bytearray()
    result = {"ok": True, "exit_code": None, "failed_step": None, "error": None}

    def read_some(until):
        remaining = until - time.monotonic()
        if remaining <= 0:
            return False
        ready, _, _ = select.select([fd], [], [], min(remaining, 0.1))
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                return False
            if not chunk:
                return False
            output.extend(chunk)
        return True

    def raw_text():
        return output.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")

    def text():
        # What a person sees, near enough: matching ignores cursor and colour sequences.
        return ANSI.sub("", raw_text())

    cursor = [0]  # expectations look only at output after the previous match

    def wait_for(pattern, timeout):
        until = time.monotonic() + timeout
        regex = re.compile(pattern, re.MULTILINE | re.IGNORECASE)
        while True:
            match = regex.search(text(), cursor[0])
            if match:
                cursor[0] = match.end()
                return match
            if not read_some(until):
                if time.monotonic() >= until:
                    return None
                # EOF: one last look.
                match = regex.search(text(), cursor[0])
                if match:
                    cursor[0] = match.end()
                return match

    for index, step in enumerate(steps):
        timeout = float(step.get("timeout", 20))
        if "expect" in step:
            if not wait_for(step["expect"], timeout):
                result.update(ok=False, failed_step=index, error=f"did not see /{step['expect']}/")
                break
        elif "choose" in step:
            match = wait_for(MENU_LINE.format(step["choose"]), timeout)
            if not match:
                result.update(ok=False, failed_step=index, error=f"no menu line for /{step['choose']}/")
                break
            time.sleep(0.1)  # let the prompt finish drawing
            os.write(fd, (match.group(1) + "\n").encode())
        elif "select" in step:
            match = wait_for(ARROW_MENU.format(step["select"]), timeout)
            if not match:
                result.update(ok=False, failed_step=index, error=f"no arrow menu with /{step['select']}/")
                break
            lines = [line for line in match.group(0).split("\n") if line]
            current = next((i for i, line in enumerate(lines) if line.startswith("> ")), 0)
            wanted = re.compile(step["select"], re.IGNORECASE)
            target = next(i for i, line in enumerate(lines) if wanted.search(line[2:]))
            moves = "\x1b[B" * (target - current) if target > current else "\x1b[A" * (current - target)
            time.sleep(0.1)  # let the menu finish drawing
            os.write(fd, (moves + "\r").encode())
        elif "send" in step:
            time.sleep(0.1)
            os.write(fd, step["send"].encode())
        else:
            result.update(ok=False, failed_step=index, error=f"unknown step {step}")
            break

    until = time.monotonic() + EXIT_WAIT_S
    status = None
    while time.monotonic() < until:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        read_some(time.monotonic() + 0.1)
        status = None
    if status is None:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        result.update(ok=False, error=(result["error"] or "") + " (still running: killed)")
    else:
        # Collect what is left in the pty buffer.
        while read_some(time.monotonic() + 0.2):
            pass
        if os.WIFEXITED(status):
            result["exit_code"] = os.WEXITSTATUS(status)
    result["output"] = raw_text()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
