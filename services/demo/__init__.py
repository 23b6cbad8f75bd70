"""Demo and benchmark data: the demo data set behind ``flask demo`` (``dataset``), its evidence uploads
(``uploads``) and the generated files they upload (``files``), and the scale builder behind
``demo --scale N`` (``scale``). The top layer: it may import every other package.
"""
