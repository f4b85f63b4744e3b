"""GPT-SoVITS on gsv-tts-lite. Importing this package loads nothing heavy: ``assets`` and
``formats`` are light; ``loading``, ``tiny`` and ``engine`` import torch and the library."""
