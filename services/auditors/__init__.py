"""What an auditor is given: time-boxed read-only grants (``grants``), the auditor's portal and
observations (``portal``), evidence packs built in the background (``packs``), rendered by a child process
(``pack_render``) and verified (``pack_verify``), and the OSCAL export (``oscal``). May import every
package below it.
"""
