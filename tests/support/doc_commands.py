#!/usr/bin/env python3
# Every `pg2neo COMMAND --option` quoted in docs/*.md, README.md and DEVELOPERS.md names a command
# pg2neo has and options that command (or pg2neo itself) accepts, as its --help lists them.
# Usage: doc_commands.py PG2NEO_BINARY REPO_ROOT
import re, subprocess, sys, glob, os
bin = sys.argv[1]; root = sys.argv[2]
files = sorted(glob.glob(os.path.join(root, 'docs', '*.md'))) + [os.path.join(root, 'README.md'), os.path.join(root, 'DEVELOPERS.md')]
helpcache = {}
def help_of(args):
    k = tuple(args)
    if k not in helpcache:
        p = subprocess.run([bin] + list(args) + ['--help'], capture_output=True, text=True)
        helpcache[k] = (p.returncode, p.stdout + p.stderr)
    return helpcache[k]
rc_all, ghelp = help_of([])
cmds = set(re.findall(r'^  ([a-z][a-z-]+)\s', ghelp.split('commands:')[1], re.M)) if 'commands:' in ghelp else set()
globalopts = set(re.findall(r'--[a-z][a-z-]+', ghelp.split('commands:')[0]))
bad = 0; checked = 0
for f in files:
    if not os.path.exists(f): continue
    for ln, line in enumerate(open(f), 1):
        for m in re.finditer(r'(?:^|`|\$ |\s{2,})pg2neo ((?:--?[a-z][\w-]*(?:[ =][^\s`|;&]+)? )*)([a-z][a-z-]+)([^`\n|;&#]*)', line):
            cmd = m.group(2)
            if cmd not in cmds:
                continue
            rest = m.group(3)
            sub = []
            words = rest.split()
            if cmd in ('triggers',) and words and re.match(r'^[a-z]+$', words[0]):
                sub = [words[0]]
            code, h = help_of([cmd])
            for o in re.findall(r'(?<![\w-])--[a-z][a-z-]*', rest):
                checked += 1
                if o == '--help': continue
                if o not in h and o not in globalopts:
                    print(f"{os.path.relpath(f, root)}:{ln}: pg2neo {cmd} {' '.join(sub)}: option {o} is not accepted ({cmd} --help does not list it)")
                    bad += 1
            for o in re.findall(r'(?<![\w-])--[a-z][a-z-]*', m.group(1)):
                if o not in globalopts:
                    print(f"{os.path.relpath(f, root)}:{ln}: global option {o} does not exist"); bad += 1
print(f"# {checked} options checked, {bad} problems")
sys.exit(1 if bad else 0)
