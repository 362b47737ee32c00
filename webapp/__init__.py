"""The browser side's server part: operator sign-in and the studio's action proxy, the
companion/tutor/service sessions (an agent instance per visitor), the public picker config and
the widget's scripts with CORS. The pages themselves are static files in `frontend/`."""
