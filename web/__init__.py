"""What every HTTP request passes through and the apps' APIs share: the API's error format and
error pages (``api``), its JSON parser (``parsers``), strict DRF fields and input serializers
(``serializers``), request checks before Django reads a request (``middleware``), the
Content-Security-Policy header (``csp``) and a web process's background threads, which keep
what requests read in memory and bound the one read left (``background``; the apps register
their jobs). Below the apps and ``config`` (which names these modules in settings), above
``ops``; it imports no app and no configuration."""
