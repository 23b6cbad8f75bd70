"""What an auditor is given: time-boxed read-only grants (``grants``), the auditor's portal and
observations (``portal``), evidence packs built in the background (``packs``), rendered by a child process
(``pack_render``) and verified (``pack_verify``), the OSCAL export (``oscal``), and the governance
performance report built the same way (``reports``). May import every
package below it.
"""
