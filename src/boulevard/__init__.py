"""Boulevard: an open smart-city data exchange platform with an NGSI-LD broker."""

__version__ = "0.1.0"
