"""Life engines beside Golly's bgolly: ``python -m bench.life`` or ``fanout bench life``."""

from service.life.bench import main

if __name__ == "__main__":
    main()
