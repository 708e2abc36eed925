// Example parameters for main.bicep; replace every value. Deploy with
//   az deployment group create -g rg-mailgate -f deploy/azure/main.bicep -p deploy/azure/main.bicepparam
using './main.bicep'

param name = 'mailgate'
param image = 'crcontoso.azurecr.io/mailgate:0.1.0'
param registryName = 'crcontoso'

// Passwordless Postgres sign-in: each identity signs in as its own role with an Entra token (deploy/README.md,
// "The database", for the roles to create once). With 'password' instead, also set keyVaultName (the two database
// URLs) and postgresPasswordAdminPassword.
param databaseAuth = 'entra'
param postgresServerName = 'psql-mailgate-contoso'

param postgresAdminObjectId = '55555555-5555-5555-5555-555555555555'
param postgresAdminName = 'mailgate-dbas'
param postgresAdminType = 'Group'

param callerAudiences = [
  'api://mailgate'
]
param tags = {
  service: 'mailgate'
}
