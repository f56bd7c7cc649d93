"""The HTTP shell: the application and its middlewares (``web.app``), users, sessions, CSRF and
login throttling (``web.auth``), the role policy (``web.policy``) and the OpenAPI document
(``web.openapi``). The domain packages (alerts, registry, console) hand it their routes; it
imports only the kernel."""
