"""Azure: Microsoft Entra ID (Azure AD) credentials for Azure OpenAI and other Azure APIs.

One module per mechanism; `client_secret` is the app-registration secret (client-credentials grant),
`managed_identity` the identity Azure assigns to a VM, App Service or container (IMDS, App Service).
"""

from .client_secret import AzureAdCredentialProvider
from .managed_identity import ManagedIdentityCredentialProvider

__all__ = ["AzureAdCredentialProvider", "ManagedIdentityCredentialProvider"]
