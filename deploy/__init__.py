"""``make deploy`` and ``make undeploy``: the plugin on Google Cloud in one command.

Run from a workstation (never uploaded: ``.gcloudignore`` leaves ``deploy/`` out) as
``python -m deploy deploy [flags]`` or ``python -m deploy undeploy [flags]``. It shells out to
plain ``gcloud`` and to the plugin's own ``b2-iconik-actions`` tool, nothing else.

* :mod:`deploy.settings`: the tunable constants (queue flags, function flags, the function's
  derived environment, the APIs and roles), and reading ``.env.yaml`` and the flags;
* :mod:`deploy.gcloud`: running gcloud (or, in a dry run, only printing it), and turning its
  failures into one sentence that says what to do;
* :mod:`deploy.resources`: the login and project checks, the APIs, the service account, IAM
  bindings and the queue, each made right only where it is not;
* :mod:`deploy.secret`: the secrets (the shared secret, rotated only when asked, the
  key sealing users' tokens in tasks, never rotated, and the plugin's own iconik token, stored
  only with --app-token), each made once, never printed;
* :mod:`deploy.function`: the function, deployed only when what it would deploy changed;
* :mod:`deploy.removal`: taking a deployment down again;
* :mod:`deploy.report`: what each run did, printed as it goes and summed up;
* :mod:`deploy.actions`: registering and removing the iconik custom actions;
* :mod:`deploy.cli`: the command line, the order of the steps and the closing report.

Imports: the standard library, PyYAML and this package only. The plugin's tool runs as a process
(``python -m b2_iconik.custom_actions``), never imported, so deploying needs nothing of the
plugin's dependencies and cannot change what is deployed; the sandbox, the bench and the tests
are never imported either. ``tests/test_rooms.py`` checks this.
"""
