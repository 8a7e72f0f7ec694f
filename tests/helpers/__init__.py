"""What the tests share, one module a kind (the fixtures themselves are in tests/conftest.py).

- `apps`: the app in process over ASGI (an httpx client, or the service's own client);
- `servers`: real ``python -m service`` processes on loopback;
- `fits`: the fit bodies the tests send and the answers the core says they should get;
- `images`: checks that an answer is a real PNG or SVG;
- `browser`: headless system Chromium for the browser tests.
"""
