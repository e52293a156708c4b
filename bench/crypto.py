"""Our openssl chains beside bash and the book's Popen loop: ``python -m bench.crypto``."""

from service.crypto.bench import main

if __name__ == "__main__":
    main()
