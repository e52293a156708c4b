"""Fan-out strategies measured: ``python -m bench.life_strategies``.

Also ``fanout bench life --strategies``.
"""

from service.life.bench_strategies import main

if __name__ == "__main__":
    main()
