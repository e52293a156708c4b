"""Job submissions a second, the daemon beside a bare aiohttp handler: ``python -m bench.api``."""

from service.api.bench import main

if __name__ == "__main__":
    main()
